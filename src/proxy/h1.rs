//! Bodyless HTTP/1 requests served whole by authgate, from the head to the answer, instead of by pingora's
//! `HttpProxy` ([`ServeWhole`]).
//!
//! pingora's `HttpProxy::process_new_http` is an `#[async_trait]` method: every request boxes a future that
//! holds its whole request processing inline (about 12 KB, copied into the box), registers a waiter on its
//! shutdown signal, and calls each filter through another box. For a request the fast path serves
//! ([`direct`]), none of that is used: the answer is written in `request_filter`. So when every route's
//! upstream can take the fast path ([`super::routes::RouteTable::direct`]) and the head, judged on its bytes
//! with pingora's own parser ([`direct::eligible_head`]), has nothing to stream, the connection loop
//! ([`super::downstream::Downstream`]) hands the request here. It is served as pingora serves it: pingora's
//! session reads and parses the head, [`AuthProxy::decide`] answers or lets it through, the fast path
//! exchanges it with the upstream, and the session finishes the answer for the connection's next request.
//! pingora's error handling is kept: a head pingora refuses is answered 400, a failure goes to
//! `fail_to_proxy`, and every request ends in the same metrics and access log line.
//!
//! What pingora's session machinery would do besides is not needed on this path: no downstream modules (the
//! one pingora installs by default, response compression, is at level 0, off), no cache, no subrequests,
//! and no connection user context (authgate keeps none).

use super::downstream::ServeWhole;
use super::state::ProxyState;
use super::{direct, log_request, AuthProxy, RequestCtx};
use pingora::apps::{HttpPersistentSettings, ReusedHttpStream};
use pingora::prelude::*;
use pingora::proxy::ProxyHttp;
use pingora::server::ShutdownWatch;
use std::sync::Arc;

impl ServeWhole for AuthProxy {
    /// The configuration snapshot the head was judged with, which the request is served with.
    type Taken = Arc<ProxyState>;

    fn takes(&self, head: &[u8]) -> Option<Arc<ProxyState>> {
        self.direct.as_ref()?;
        let state = self.current.load_full();
        (state.routes.direct() && direct::eligible_head(head)).then_some(state)
    }

    async fn serve(
        &self,
        mut session: Session,
        state: Arc<ProxyState>,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !read(&mut session).await {
            return None;
        }
        if *shutdown.borrow() {
            // Shutting down: this is the connection's last request.
            session.set_keepalive(None);
        }
        let mut ctx = RequestCtx::new(state);
        match self.answer(&mut session, &mut ctx).await {
            Ok(()) => {
                log_request(&session, &ctx);
                finish(session).await
            }
            Err(e) => self.failed(session, &mut ctx, e).await,
        }
    }
}

impl AuthProxy {
    /// The request answered: refused by [`Self::decide`], or exchanged with the upstream by the fast path.
    async fn answer(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
        if self.decide(session, ctx).await? || self.try_direct(session, ctx).await? {
            return Ok(());
        }
        // `takes` judged the head eligible and every upstream too: the parsed request disagrees.
        Error::e_explain(
            ErrorType::InternalError,
            "a request judged eligible for the fast path on its head is not",
        )
    }

    /// pingora's `handle_error`: the error answered (`fail_to_proxy`), logged, the request counted; the
    /// connection is kept only if `fail_to_proxy` allows it (authgate's never does).
    async fn failed(&self, mut session: Session, ctx: &mut RequestCtx, e: Box<Error>) -> Option<ReusedHttpStream> {
        let outcome = self.fail_to_proxy(&mut session, &e, ctx).await;
        tracing::error!(
            "request failed: {e}, status: {}, {}",
            outcome.error_code,
            self.request_summary(&session, ctx)
        );
        log_request(&session, ctx);
        session.downstream_session.on_proxy_failure(e);
        if !outcome.can_reuse_downstream {
            return None;
        }
        finish(session).await
    }
}

/// The answer finished; the connection, with what pingora keeps between requests, when it may carry another.
async fn finish(session: Session) -> Option<ReusedHttpStream> {
    let settings = HttpPersistentSettings::for_session(&session);
    let reusable = session.downstream_session.finish().await.ok().flatten()?;
    Some(ReusedHttpStream::from_reusable_stream(reusable, settings))
}

/// pingora's `handle_new_request` for a head already buffered: true when a request was read. A head pingora
/// refuses is answered 400 (its own answer) and the connection closed.
async fn read(session: &mut Session) -> bool {
    match session.downstream_session.read_request().await {
        Ok(read) => read,
        Err(mut e) => {
            e.as_down();
            if matches!(e.etype(), ErrorType::InvalidHTTPHeader) {
                tracing::debug!(error = %e, "refused a request head (400)");
                if let Err(e) = session.downstream_session.respond_error(400).await {
                    tracing::debug!(error = %e, "could not send the 400 answer");
                }
            } else {
                tracing::warn!(error = %e, "could not read a request");
            }
            session.downstream_session.shutdown().await;
            false
        }
    }
}
