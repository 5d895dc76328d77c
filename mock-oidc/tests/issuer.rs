//! mock-oidc over real HTTP: discovery, JWKS, JSON and form token requests, presets, rotation,
//! persistence, and the `token` CLI against a running issuer.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64URL, Engine};
use serde_json::{json, Value};

async fn start(dir: Option<&std::path::Path>) -> (mock_oidc::Issuer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = mock_oidc::Issuer::new(&url, dir).unwrap();
    let i = issuer.clone();
    tokio::spawn(async move {
        mock_oidc::serve(listener, i, std::future::pending())
            .await
            .unwrap()
    });
    (issuer, url)
}

fn part(jwt: &str, i: usize) -> Value {
    serde_json::from_slice(&B64URL.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// Verifies a JWT against the published JWKS with ring, independently of the minting code.
fn verify(jwt: &str, jwks: &Value) -> bool {
    let header = part(jwt, 0);
    let kid = header["kid"].as_str().unwrap();
    let Some(k) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    let sig = B64URL.decode(sig).unwrap();
    let b = |f: &str| B64URL.decode(k[f].as_str().unwrap()).unwrap();
    match header["alg"].as_str().unwrap() {
        "RS256" => aws_lc_rs::signature::RsaPublicKeyComponents {
            n: b("n"),
            e: b("e"),
        }
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &sig,
        )
        .is_ok(),
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(b("x"));
            point.extend(b("y"));
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                point,
            )
            .verify(signed.as_bytes(), &sig)
            .is_ok()
        }
        _ => false,
    }
}

#[tokio::test]
async fn discovery_jwks_tokens_and_rotation() {
    let (issuer, url) = start(None).await;
    let c = reqwest::Client::new();
    let d: Value = c
        .get(format!("{url}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], json!(url));
    let jwks: Value = c
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["RS256", "ES256"]);

    // JSON claims, preset email, ES256.
    let r: Value = c
        .post(format!("{url}/token"))
        .json(&json!({"preset": "email", "email": "a@example.com", "alg": "ES256", "team": "blue"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = r["id_token"].as_str().unwrap();
    assert!(verify(t, &jwks));
    let claims = part(t, 1);
    assert_eq!(claims["iss"], json!(url));
    assert_eq!(claims["aud"], "sigstore");
    assert_eq!(claims["email"], "a@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["team"], "blue");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        mock_oidc::DEFAULT_TTL_SECS
    );

    // Standard client-credentials form.
    let r: Value = c
        .post(format!("{url}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=sigstore&sub=svc%2Fbuilder")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = r["access_token"].as_str().unwrap();
    assert!(verify(t, &jwks));
    assert_eq!(part(t, 1)["sub"], "svc/builder");
    assert_eq!(part(t, 0)["alg"], "RS256");

    // GitHub preset.
    let r: Value = c
        .post(format!("{url}/token"))
        .json(&json!({"preset": "github", "repository": "octo/app"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gh = part(r["id_token"].as_str().unwrap(), 1);
    assert_eq!(
        gh["job_workflow_ref"],
        "octo/app/.github/workflows/release.yml@refs/heads/main"
    );
    assert_eq!(gh["sub"], "repo:octo/app:ref:refs/heads/main");

    // Bad requests.
    let r = c
        .post(format!("{url}/token"))
        .json(&json!({"alg": "HS256"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(format!("{url}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A lifetime beyond a year, or one that would wrap `exp`, is refused.
    for ttl in [
        json!(i64::MAX),
        json!(0),
        json!(-5),
        json!(mock_oidc::MAX_TTL_SECS + 1),
    ] {
        let r = c
            .post(format!("{url}/token"))
            .json(&json!({"preset": "email", "email": "a@example.com", "ttl": ttl}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "ttl {ttl}");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["message"].as_str().unwrap().contains("ttl must be"),
            "{v}"
        );
    }

    // Rotation: the new key signs, the old one stays published until removed.
    let old = issuer
        .mint(
            mock_oidc::email_claims("x@example.com"),
            mock_oidc::Alg::RS256,
            1,
        )
        .unwrap();
    let rot: Value = c
        .post(format!("{url}/keys/rotate"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = issuer
        .mint(
            mock_oidc::email_claims("x@example.com"),
            mock_oidc::Alg::RS256,
            1,
        )
        .unwrap();
    assert_ne!(part(&old, 0)["kid"], part(&new, 0)["kid"]);
    assert!(rot["kids"]
        .as_array()
        .unwrap()
        .contains(&part(&new, 0)["kid"]));
    let jwks: Value = c
        .get(format!("{url}/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 4);
    assert!(verify(&old, &jwks) && verify(&new, &jwks));
    let old_kid = part(&old, 0)["kid"].as_str().unwrap().to_string();
    assert_eq!(
        c.delete(format!("{url}/keys/{old_kid}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let jwks: Value = c
        .get(format!("{url}/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!verify(&old, &jwks) && verify(&new, &jwks));
    assert_eq!(
        c.delete(format!("{url}/keys/{old_kid}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn keys_persist_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = start(Some(dir.path())).await;
    let a: Value = reqwest::get(format!("{url}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(mock_oidc::KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (_, url2) = start(Some(dir.path())).await;
    let b: Value = reqwest::get(format!("{url2}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_cli_prints_a_token_from_a_running_issuer() {
    let (_, url) = start(None).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-oidc"))
        .args([
            "token",
            "--issuer-url",
            &url,
            "--email",
            "cli@example.com",
            "--claim",
            "n=3",
            "--claim",
            "s=x",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8(out.stdout).unwrap();
    let claims = part(t.trim(), 1);
    assert_eq!(
        (
            claims["email"].clone(),
            claims["n"].clone(),
            claims["s"].clone()
        ),
        (json!("cli@example.com"), json!(3), json!("x"))
    );
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-oidc"))
        .args(["token", "--issuer-url", &url, "--alg", "HS256"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unsupported alg"), "{err}");
}

/// The browser flow sigstore-python and cosign use: /authorize approves at once and redirects
/// with a code; /token redeems it once, checking the redirect URI and the PKCE verifier.
#[tokio::test]
async fn authorization_code_flow_with_pkce() {
    let issuer = mock_oidc::Issuer::new("http://127.0.0.1:1", None).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(mock_oidc::serve(l, issuer, std::future::pending()));
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefghij";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()),
    );
    let r = c
        .get(format!("{url}/authorize?response_type=code&client_id=sigstore&redirect_uri=http%3A%2F%2Flocalhost%3A9%2Fauth%2Fcallback&state=s%201&nonce=n1&code_challenge={challenge}&code_challenge_method=S256&login_hint=carol%40example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("http://localhost:9/auth/callback?code="),
        "{loc}"
    );
    assert!(loc.ends_with("&state=s%201"), "{loc}");
    let code = loc
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let redeem = |verifier: &str, code: &str| {
        c.post(format!("{url}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Flocalhost%3A9%2Fauth%2Fcallback&code_verifier={verifier}&client_id=sigstore"))
            .send()
    };
    assert_eq!(
        redeem("wrong", &code).await.unwrap().status(),
        400,
        "a wrong verifier"
    );
    let r = redeem(verifier, &code).await.unwrap();
    assert_eq!(r.status(), 400, "the code was spent by the failed attempt");
    // A fresh code, redeemed properly.
    let r = c
        .get(format!("{url}/authorize?response_type=code&client_id=sigstore&redirect_uri=http%3A%2F%2Flocalhost%3A9%2Fcb&nonce=n2&code_challenge={challenge}&code_challenge_method=S256&login_hint=carol%40example.com"))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let code = loc.split("code=").nth(1).unwrap().to_string();
    let r = c
        .post(format!("{url}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={code}&code_verifier={verifier}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id_token = v["id_token"].as_str().unwrap();
    let claims: Value =
        serde_json::from_slice(&B64URL.decode(id_token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(claims["email"], "carol@example.com");
    assert_eq!(claims["nonce"], "n2");
    assert_eq!(claims["aud"], "sigstore");
    // Spent.
    let r = c
        .post(format!("{url}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code={code}&code_verifier={verifier}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let disc: Value = reqwest::get(format!("{url}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(disc["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("authorization_code")));
}

/// Bad UTF-8 in a path and a wrong method: JSON errors, like every other status.
#[tokio::test]
async fn path_and_method_errors_are_json() {
    let issuer = mock_oidc::Issuer::new("http://127.0.0.1:1", None).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(mock_oidc::serve(l, issuer, std::future::pending()));
    let c = reqwest::Client::new();
    let r = c.delete(format!("{url}/keys/%FF%FE")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "bad_request");
    let r = c.get(format!("{url}/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap()["reason"],
        "method_not_allowed"
    );
}
