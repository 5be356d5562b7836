use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_actix::ResponseOptions>() {
        res.set_status(actix_web::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <p><a class="button" rel="external" href="/">"Go to the home page"</a></p>
        </section>
    }
}
