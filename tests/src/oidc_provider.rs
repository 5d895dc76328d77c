//! An OIDC provider that is not ours: PyPI `oidc-provider-mock` 0.3.4 (installed by
//! `scripts/test` into `.venv-interop`), started on a free loopback port and logged into through
//! its authorization-code flow.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// The running provider; stopped when dropped.
pub struct PyProvider {
    child: Child,
    pub url: String,
}

impl Drop for PyProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PyProvider {
    /// Starts the provider and waits for its discovery document. Fails loudly if it is not
    /// installed.
    pub async fn start() -> PyProvider {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-interop/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `bash scripts/test`, which installs oidc-provider-mock 0.3.4",
            python.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&python)
            .args(["-m", "oidc_provider_mock", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oidc-provider-mock");
        let p = PyProvider {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if reqwest::get(format!("{}/.well-known/openid-configuration", p.url))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("oidc-provider-mock did not come up on {}", p.url);
    }

    /// The issuer string its tokens carry (from discovery).
    pub async fn issuer(&self) -> String {
        let d: Value = reqwest::get(format!("{}/.well-known/openid-configuration", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        d["issuer"].as_str().unwrap().to_string()
    }

    /// Logs in as `email` (verified) through the authorization-code flow; returns the ID token.
    pub async fn login(&self, email: &str) -> String {
        self.login_with(
            email,
            json!({"email": email, "email_verified": true}),
            "openid email",
        )
        .await
    }

    /// Logs in as subject `sub` (no '/' in it: the provider's user path) whose ID token carries
    /// `claims` as well (a CI's claim set, say); returns the ID token.
    pub async fn login_with(&self, sub: &str, claims: Value, scope: &str) -> String {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = c
            .put(format!("{}/users/{sub}", self.url))
            .json(&claims)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "PUT /users/{sub}: {}", r.status());
        let cb = "http://127.0.0.1:1/callback";
        let r = c
            .post(format!("{}/oauth2/authorize", self.url))
            .query(&[
                ("client_id", "sigstore"),
                ("redirect_uri", cb),
                ("response_type", "code"),
                ("scope", scope),
                ("state", "s"),
            ])
            .form(&[("sub", sub)])
            .send()
            .await
            .unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let code = loc
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("code="))
            .expect("authorization code")
            .to_string();
        let t: Value = c
            .post(format!("{}/oauth2/token", self.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("client_id", "sigstore"),
                ("client_secret", "x"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        t["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {t}"))
            .to_string()
    }
}
