//! A browser, as far as an OAuth authorization-code flow needs one: it keeps cookies, follows redirects
//! itself (one at a time, so a test sees each hop), submits the provider's login and consent forms, and sends
//! Basic credentials to the gateway only (never to the provider).

use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

/// A cookie-keeping client that follows no redirect on its own.
pub struct Browser {
    client: reqwest::Client,
    /// Cookies by name. Every server here is on 127.0.0.1 and the names differ, so paths and ports are not
    /// kept apart (sending a cookie to a path it was not set for is harmless to these servers).
    jar: BTreeMap<String, String>,
    /// `host:port` of the gateway and the user's Basic credentials there.
    gateway: (String, String, String),
}

/// One answer: where it came from, its status, `Location` (resolved) and body.
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub location: Option<Url>,
    pub body: String,
}

/// A form found in a page: its resolved action and its named inputs with their values.
#[derive(Debug)]
pub struct Form {
    pub action: Url,
    pub fields: Vec<(String, String)>,
}

impl Browser {
    /// A browser whose user signs in to the gateway at `gateway_port` as `user` (password `{user}-pw`).
    pub fn new(gateway_port: u16, user: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
            gateway: (
                format!("127.0.0.1:{gateway_port}"),
                user.to_string(),
                format!("{user}-pw"),
            ),
        }
    }

    /// A cookie's value, if set.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// `GET url`.
    pub async fn get(&mut self, url: &str) -> Page {
        self.send(Method::GET, Url::parse(url).unwrap(), None).await
    }

    /// Submits `form` (POST, urlencoded), with `fill` replacing or adding fields.
    pub async fn submit(&mut self, form: &Form, fill: &[(&str, &str)]) -> Page {
        let mut fields = form.fields.clone();
        for (name, value) in fill {
            fields.retain(|(n, _)| n != name);
            fields.push((name.to_string(), value.to_string()));
        }
        self.send(Method::POST, form.action.clone(), Some(fields)).await
    }

    async fn send(&mut self, method: Method, url: Url, form: Option<Vec<(String, String)>>) -> Page {
        let mut request = self.client.request(method, url.clone());
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        if host == self.gateway.0 {
            request = request.basic_auth(&self.gateway.1, Some(&self.gateway.2));
        }
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            request = request.header("cookie", cookies.join("; "));
        }
        if let Some(fields) = form {
            request = request.form(&fields);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        for value in response.headers().get_all("set-cookie") {
            self.keep(value.to_str().unwrap_or(""));
        }
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|l| url.join(l.to_str().unwrap()).unwrap());
        let body = response.text().await.unwrap_or_default();
        Page {
            url,
            status,
            location,
            body,
        }
    }

    fn keep(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let expired = parts.any(|a| {
            let a = a.trim().to_ascii_lowercase();
            a == "max-age=0" || a.starts_with("expires=thu, 01 jan 1970")
        });
        if expired || value.is_empty() {
            self.jar.remove(name);
        } else {
            self.jar.insert(name.to_string(), value.to_string());
        }
    }

    /// Drives an authorization from `page` (the gateway's redirect to the provider) as a user does: follows
    /// redirects, signs in as `login` and consents, until the provider sends the browser back to the gateway;
    /// returns the gateway's answer to that callback. Panics on anything else (with the page).
    pub async fn authorize_at_provider(&mut self, mut page: Page, login: &str) -> Page {
        for _ in 0..20 {
            if let Some(next) = page.location.clone() {
                assert!(page.status.is_redirection(), "{} {}", page.status, page.url);
                let back_home =
                    format!("{}:{}", next.host_str().unwrap_or(""), next.port().unwrap_or(0)) == self.gateway.0;
                page = self.get(next.as_str()).await;
                if back_home {
                    return page;
                }
                continue;
            }
            assert_eq!(page.status, StatusCode::OK, "{}: {}", page.url, page.body);
            let form = Form::find(&page).unwrap_or_else(|| panic!("no form at {}: {}", page.url, page.body));
            let prompt = form.fields.iter().find(|(n, _)| n == "prompt").map(|(_, v)| v.clone());
            page = match prompt.as_deref() {
                Some("login") => self.submit(&form, &[("login", login), ("password", "any")]).await,
                Some("consent") => self.submit(&form, &[]).await,
                other => panic!("an unexpected form ({other:?}) at {}: {}", page.url, page.body),
            };
        }
        panic!("the authorization did not come back to the gateway");
    }
}

impl Form {
    /// The first `<form>` of `page`, with its `<input name=.. value=..>` fields.
    pub fn find(page: &Page) -> Option<Form> {
        let start = page.body.find("<form")?;
        let end = page.body[start..].find("</form>")? + start;
        let html = &page.body[start..end];
        let tag_end = html.find('>')?;
        let action = attribute(&html[..tag_end], "action")?;
        let mut fields = Vec::new();
        let mut rest = &html[tag_end..];
        while let Some(at) = rest.find("<input") {
            let tag = &rest[at..];
            let close = tag.find('>').unwrap_or(tag.len());
            let tag = &tag[..close];
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, attribute(tag, "value").unwrap_or_default()));
            }
            rest = &rest[at + close..];
        }
        Some(Form {
            action: page.url.join(&unescape(&action)).ok()?,
            fields,
        })
    }
}

/// The value of `name="..."` in a tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(unescape(&tag[at..at + len]))
}

fn unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[test]
fn forms_are_read_with_their_fields() {
    let page = Page {
        url: Url::parse("http://127.0.0.1:1/interaction/abc").unwrap(),
        status: StatusCode::OK,
        location: None,
        body: r#"<p>x</p><form autocomplete="off" action="/interaction/abc/login?a=1&amp;b=2" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" >
  <button type="submit">Sign-in</button></form>"#
            .into(),
    };
    let form = Form::find(&page).unwrap();
    assert_eq!(form.action.as_str(), "http://127.0.0.1:1/interaction/abc/login?a=1&b=2");
    assert_eq!(
        form.fields,
        [
            ("prompt".to_string(), "login".to_string()),
            ("login".to_string(), String::new())
        ]
    );
}
