//! Bad input gets a JSON 4xx, never a 500 or an HTML page.

use awc::http::StatusCode;

use crate::helpers::{CLIENT_ID, CLIENT_SECRET, Reply, client, read, spawn_app};

async fn post_raw(
    url: String,
    content_type: &str,
    body: impl Into<actix_web::web::Bytes>,
) -> Reply {
    let res = client()
        .post(url)
        .basic_auth(CLIENT_ID, CLIENT_SECRET)
        .insert_header(("content-type", content_type))
        .send_body(body.into())
        .await
        .unwrap();
    read(res).await
}

fn assert_json_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.error(), code);
}

#[actix_web::test]
async fn malformed_bodies_get_json_4xx_errors() {
    let app = spawn_app().await;
    let url = app.url("/auth/token");
    let cases = [
        ("application/json", "{not json", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "application/json",
            r#"{"grant_type":"password"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"grant_type":"client_credentials"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"grant_type":"password","username":1,"password":"x"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        ("application/json", "", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "text/plain",
            r#"{"grant_type":"refresh_token","refresh_token":"x"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "application/x-www-form-urlencoded",
            "grant_type=refresh_token",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
    ];
    for (ct, body, status, code) in cases {
        let reply = post_raw(url.clone(), ct, body).await;
        assert_json_error(&reply, status, code);
    }
}

#[actix_web::test]
async fn bodies_over_16_kib_are_refused_with_413() {
    let app = spawn_app().await;
    let big =
        format!(r#"{{"grant_type":"refresh_token","refresh_token":"{}"}}"#, "a".repeat(17 * 1024));
    let reply = post_raw(app.url("/auth/token"), "application/json", big).await;
    assert_json_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // A body just under the limit is read (and is merely an unknown token).
    let fits =
        format!(r#"{{"grant_type":"refresh_token","refresh_token":"{}"}}"#, "a".repeat(15 * 1024));
    let reply = post_raw(app.url("/auth/token"), "application/json", fits).await;
    assert_json_error(&reply, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[actix_web::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let app = spawn_app().await;
    assert_json_error(&app.get("/nope").await, StatusCode::NOT_FOUND, "not_found");
    assert_json_error(
        &app.get("/auth/token").await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let reply = read(client().delete(app.url("/auth/userinfo")).send().await.unwrap()).await;
    assert_json_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[actix_web::test]
async fn error_bodies_never_echo_secrets() {
    let app = spawn_app().await;
    let secret = "SECRET-refresh-token-value";
    let reply = post_raw(
        app.url("/auth/token"),
        "application/json",
        format!(r#"{{"grant_type":"refresh_token","refresh_token":"{secret}""#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(!reply.body.to_string().contains(secret));
    let reply = app.refresh(secret).await;
    assert!(!reply.body.to_string().contains(secret));
}
