//! The fast path's upstream answer, when it is plain: read and parsed here instead of by pingora's v1 client
//! session ([`super::direct`]).
//!
//! Most answers to a bodyless request are an HTTP/1.1 head with a `Content-Length` and the whole body behind
//! it in the same read. pingora's client session reads such an answer under its own timer, parses it into a
//! `ResponseHeader`, copies that header to hand it out, and sets up a body reader, then the body is read as a
//! second task and the connection's reuse is decided from the session's state: about a quarter of a passthrough
//! request's own instructions (benches/load/README.md, "Plain answers read whole"). [`read`] reads the first
//! bytes of the answer itself, under the route's read timeout, with pingora's errors, and parses them with the
//! parser and settings pingora's client uses; when the answer is plain ([`Plain`]) it builds the same
//! `ResponseHeader` pingora would (`build`, version, reason phrase, each field's name with its case and its
//! value normalised by `pingora_http::header_value_from_raw`), and the body is the bytes after the head. Anything
//! else (a partial or invalid head, an informational, 204, 304 or HTTP/1.0 answer, chunked or close-delimited
//! framing, `Connection` naming more than `keep-alive`, a body not whole in the read or bytes beyond it) is put
//! back on the stream (`Stream::rewind`) for pingora's client session, which then reads it as if nothing had.

use bytes::{Bytes, BytesMut};
use http::Version;
use pingora::http::{header_value_from_raw, IntoCaseHeaderName};
use pingora::prelude::*;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use std::mem::MaybeUninit;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Header fields a plain answer may have (more: pingora's client session reads it).
const FIELDS: usize = 64;
/// pingora's initial buffer of an answer's head.
const HEAD_CAPACITY: usize = 4096;

/// A whole answer: its head as pingora's client session would have parsed it, and its body. The connection
/// may carry another request (HTTP/1.1, not closed, nothing read beyond the body).
pub struct Plain {
    /// The head.
    pub header: Box<ResponseHeader>,
    /// The body, all of it (`Content-Length` bytes).
    pub body: Bytes,
}

/// What [`read`] found.
pub enum Read {
    /// A plain answer, read whole; the connection may carry another request.
    Plain(Stream, Plain),
    /// Something else, for pingora's client session: the connection, with what was read put back on it.
    Other(Stream),
}

/// Reads the upstream's answer to the request just written on `stream`: [`Read::Plain`] when it is plain and
/// whole in the first read, [`Read::Other`] when it is not or the connection is not a plain socket (what was
/// read is put back on it for pingora's client session). Errors are pingora's for the same failures (closed,
/// read error, timeout), so that a reused connection that fails here is retried as it would be.
pub async fn read(mut stream: Stream, limit: Option<Duration>) -> Result<Read> {
    // Bytes can be put back only on pingora's own socket stream (TCP or unix), which the fast path's upstream
    // connections are.
    if !stream.as_any().is::<L4Stream>() {
        return Ok(Read::Other(stream));
    }
    let mut buf = BytesMut::with_capacity(HEAD_CAPACITY);
    let read = stream.read_buf(&mut buf);
    let read = match limit {
        Some(limit) => match tokio::time::timeout(limit, read).await {
            Ok(read) => read,
            Err(_) => return Error::e_explain(ErrorType::ReadTimedout, "while reading response headers"),
        },
        None => read.await,
    };
    match read {
        Ok(0) => {
            let mut e = Error::explain(
                ErrorType::ConnectionClosed,
                "while reading response headers, bytes already read: 0",
            );
            e.retry = RetryType::ReusedOnly;
            Err(e)
        }
        Ok(_) => {
            let buf = buf.freeze();
            match plain(&buf) {
                Some(plain) => Ok(Read::Plain(stream, plain)),
                None => put_back(stream, &buf).map(Read::Other),
            }
        }
        Err(e) => {
            let os_error = e.raw_os_error().is_some();
            let mut e = Error::because(
                ErrorType::ReadError,
                "while reading response headers, bytes already read: 0",
                e,
            );
            if os_error {
                e.retry = RetryType::ReusedOnly;
            }
            Err(e)
        }
    }
}

/// `stream` with `bytes` to be read again first (`Stream::rewind`).
fn put_back(stream: Stream, bytes: &[u8]) -> Result<Stream> {
    match stream.into_any().downcast::<L4Stream>() {
        Ok(mut socket) => {
            socket.rewind(bytes);
            Ok(socket)
        }
        // Checked before anything was read.
        Err(_) => Error::e_explain(ErrorType::InternalError, "upstream connection is not a socket stream"),
    }
}

/// `buf` as a plain answer, parsed as pingora's client session parses it, or `None`.
pub fn plain(buf: &Bytes) -> Option<Plain> {
    let mut fields = [const { MaybeUninit::<httparse::Header>::uninit() }; FIELDS];
    let mut resp = httparse::Response::new(&mut []);
    // pingora's client parser settings (`parse_resp_buffer`).
    let mut config = httparse::ParserConfig::default();
    config.allow_spaces_after_header_name_in_responses(true);
    config.allow_obsolete_multiline_headers_in_responses(true);
    let end = match config.parse_response_with_uninit_headers(&mut resp, buf, &mut fields) {
        Ok(httparse::Status::Complete(end)) => end,
        _ => return None,
    };
    let code = resp.code?;
    if resp.version != Some(1) || !(200..600).contains(&code) || code == 204 || code == 304 {
        return None;
    }
    let mut length = None;
    for field in resp.headers.iter() {
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            if length.is_some() {
                return None;
            }
            length = Some(content_length(field.value)?);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if !field.value.split(|&b| b == b',').all(|token| {
                let token = token.trim_ascii();
                token.is_empty() || token.eq_ignore_ascii_case(b"keep-alive")
            }) {
                return None;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") || name.eq_ignore_ascii_case(b"upgrade") {
            return None;
        }
    }
    if length? != buf.len() - end {
        return None;
    }
    let mut header = ResponseHeader::build(code, Some(resp.headers.len())).ok()?;
    header.set_version(Version::HTTP_11);
    header.set_reason_phrase(resp.reason).ok()?;
    let at = |part: &[u8]| {
        let start = part.as_ptr() as usize - buf.as_ptr() as usize;
        buf.slice(start..start + part.len())
    };
    for field in resp.headers.iter() {
        let name = at(field.name.as_bytes()).into_case_header_name();
        header
            .append_header(name, header_value_from_raw(at(field.value)))
            .ok()?;
    }
    Some(Plain {
        header: Box::new(header),
        body: buf.slice(end..),
    })
}

/// A `Content-Length` value: 1 to 19 digits (a value pingora would read another way, or refuse, is not plain).
fn content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::protocols::http::v1::client::HttpSession;
    use pingora::protocols::http::HttpTask;
    use tokio::io::AsyncWriteExt;

    /// A connected pair of loopback streams: the upstream's end and authgate's.
    async fn pair() -> (tokio::net::TcpStream, Stream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"));
        let (client, accepted) = tokio::join!(client, listener.accept());
        let stream: Stream = Box::new(L4Stream::from(client.expect("connect")));
        (accepted.expect("accept").0, stream)
    }

    /// What pingora's client session reads from `stream`: the head's wire form, status, version and reason,
    /// and the whole body.
    async fn pingora_reads(stream: Stream) -> (Vec<u8>, u16, Version, Option<String>, Vec<u8>) {
        let mut session = HttpSession::new(stream);
        let mut head = None;
        let mut body = Vec::new();
        loop {
            match session.read_response_task().await.expect("pingora reads the answer") {
                HttpTask::Header(header, end) => {
                    head = Some(header);
                    if end {
                        break;
                    }
                }
                HttpTask::Body(Some(bytes), end) => {
                    body.extend_from_slice(&bytes);
                    if end {
                        break;
                    }
                }
                HttpTask::Body(None, true) | HttpTask::Done => break,
                _ => {}
            }
        }
        let head = head.expect("a head");
        (
            wire(&head),
            head.status.as_u16(),
            head.version,
            head.get_reason_phrase().map(str::to_string),
            body,
        )
    }

    fn wire(header: &ResponseHeader) -> Vec<u8> {
        let mut buf = BytesMut::new();
        header.header_to_h1_wire(&mut buf);
        buf.to_vec()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    const PLAIN: &[&str] = &[
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 200 Fine Thanks\r\nX-Case-Kept: A\r\nx-dup: 1\r\nX-Dup: 2\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 3\r\nConnection: Keep-Alive, \r\n\r\nbye",
        "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nX-Space : v\r\nContent-Length: 1\r\n\r\nx",
        "HTTP/1.1 599 \r\nContent-Length: 00\r\n\r\n",
    ];

    /// Answers that are not plain, and whether pingora's session reads them whole (the others it refuses or
    /// waits on).
    const NOT_PLAIN: &[(&str, bool)] = &[
        ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil close",
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
            true,
        ),
        ("HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok", true),
        ("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", true),
        ("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", true),
        (
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            true,
        ),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", true),
        ("HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false),
        ("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npartial", false),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false),
        ("NOT HTTP\r\n\r\n", false),
    ];

    #[test]
    fn a_plain_answer_is_parsed_as_pingoras_client_session_parses_it() {
        runtime().block_on(async {
            for text in PLAIN {
                let buf = Bytes::from_static(text.as_bytes());
                let plain = plain(&buf).unwrap_or_else(|| panic!("plain: {text:?}"));
                let (mut upstream, stream) = pair().await;
                upstream.write_all(text.as_bytes()).await.expect("write");
                let (head, status, version, reason, body) = pingora_reads(stream).await;
                assert_eq!(
                    String::from_utf8_lossy(&wire(&plain.header)),
                    String::from_utf8_lossy(&head),
                    "{text:?}"
                );
                assert_eq!(plain.header.status.as_u16(), status, "{text:?}");
                assert_eq!(plain.header.version, version, "{text:?}");
                assert_eq!(plain.header.get_reason_phrase().map(str::to_string), reason, "{text:?}");
                assert_eq!(plain.body.as_ref(), body.as_slice(), "{text:?}");
            }
        });
    }

    #[test]
    fn other_answers_are_left_to_pingora_with_every_byte_put_back() {
        for (text, _) in NOT_PLAIN {
            assert!(plain(&Bytes::from_static(text.as_bytes())).is_none(), "{text:?}");
        }
        runtime().block_on(async {
            for (text, whole) in NOT_PLAIN {
                let (mut upstream, stream) = pair().await;
                upstream.write_all(text.as_bytes()).await.expect("write");
                let Read::Other(stream) = read(stream, None).await.expect("read") else {
                    panic!("plain: {text:?}");
                };
                if !whole {
                    continue;
                }
                // pingora's session reads what was put back as it reads the same bytes on a fresh connection
                // (a close-delimited answer ends when the upstream closes).
                let (mut fresh_upstream, fresh) = pair().await;
                fresh_upstream.write_all(text.as_bytes()).await.expect("write");
                upstream.shutdown().await.expect("shutdown");
                fresh_upstream.shutdown().await.expect("shutdown");
                assert_eq!(pingora_reads(stream).await, pingora_reads(fresh).await, "{text:?}");
            }
        });
    }

    #[test]
    fn a_closed_connection_is_pingoras_retryable_error() {
        runtime().block_on(async {
            let (upstream, stream) = pair().await;
            drop(upstream);
            let mut e = read(stream, Some(Duration::from_secs(5)))
                .await
                .err()
                .expect("an error");
            assert_eq!(*e.etype(), ErrorType::ConnectionClosed);
            e.retry.decide_reuse(true);
            assert!(e.retry(), "retried on another connection when this one was reused");
            let (_upstream, stream) = pair().await;
            let e = read(stream, Some(Duration::from_millis(50)))
                .await
                .err()
                .expect("a timeout");
            assert_eq!(*e.etype(), ErrorType::ReadTimedout);
        });
    }
}
