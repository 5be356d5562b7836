use actix_web::web;
use shared::UserInfo;

use crate::extract::AuthUser;

/// `GET /auth/userinfo`: who the token belongs to (and proof its session is live).
pub async fn userinfo(user: AuthUser) -> web::Json<UserInfo> {
    let c = user.claims;
    web::Json(UserInfo { sub: c.sub, username: c.username, roles: c.roles })
}
