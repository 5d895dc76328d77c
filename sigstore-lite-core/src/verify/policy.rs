//! Who must have signed: an identity and an issuer, exact or by regular expression.

use crate::fulcio::FulcioCert;

use super::VerifyError;

/// A string matcher for identities and issuers. Regexps are anchored (full match).
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Regex(regex::Regex, String),
}

impl Matcher {
    pub fn exact(s: &str) -> Matcher {
        Matcher::Exact(s.to_string())
    }

    /// `re` must match the whole value.
    pub fn regex(re: &str) -> Result<Matcher, regex::Error> {
        Ok(Matcher::Regex(
            regex::Regex::new(&format!("^(?:{re})$"))?,
            re.to_string(),
        ))
    }

    /// `re` may match anywhere in the value, as Go's `regexp.MatchString` does (the semantics of
    /// policy-controller's and Kyverno's `subjectRegExp` / `issuerRegExp`).
    pub fn regex_unanchored(re: &str) -> Result<Matcher, regex::Error> {
        Ok(Matcher::Regex(regex::Regex::new(re)?, re.to_string()))
    }

    /// A regexp error as one sentence (regex's own message spans several lines, with a caret
    /// under the fault).
    pub fn describe_error(e: &regex::Error) -> String {
        let text = e.to_string();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        last.trim().trim_start_matches("error: ").to_string()
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == s,
            Matcher::Regex(r, _) => r.is_match(s),
        }
    }

    /// How the matcher reads in a message.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Exact(e) => format!("{e:?}"),
            Matcher::Regex(_, r) => format!("a match of /{r}/"),
        }
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub struct Policy {
    pub identity: Matcher,
    pub issuer: Matcher,
    /// Fulcio extensions the certificate must carry, by dotted OID, each matching its value
    /// (cosign's --certificate-github-workflow-* flags; Kyverno's additionalExtensions).
    pub extensions: Vec<(String, Matcher)>,
}

impl Policy {
    pub fn exact(identity: &str, issuer: &str) -> Policy {
        Policy {
            identity: Matcher::exact(identity),
            issuer: Matcher::exact(issuer),
            extensions: Vec::new(),
        }
    }

    /// Checks a certificate's SANs and issuer; returns the matching SAN and the issuer.
    pub fn check(&self, c: &FulcioCert) -> Result<(String, String), VerifyError> {
        let issuer = c.issuer.clone().unwrap_or_default();
        let Some(identity) = c
            .sans
            .iter()
            .map(|s| s.value())
            .find(|s| self.identity.matches(s))
        else {
            let found: Vec<&str> = c.sans.iter().map(|s| s.value()).collect();
            return Err(VerifyError::IdentityMismatch {
                expected: self.identity.describe(),
                found: format!("{found:?}"),
            });
        };
        if !self.issuer.matches(&issuer) {
            return Err(VerifyError::IssuerMismatch {
                expected: self.issuer.describe(),
                found: format!("{issuer:?}"),
            });
        }
        for (oid, m) in &self.extensions {
            let found = c.sigstore_extensions.get(oid);
            if !found.is_some_and(|v| m.matches(v)) {
                let name = crate::fulcio::EXTENSIONS
                    .iter()
                    .find(|(_, a)| format!("1.3.6.1.4.1.57264.1.{a}") == *oid)
                    .map_or(oid.as_str(), |(n, _)| n);
                return Err(VerifyError::ExtensionMismatch {
                    name: name.to_string(),
                    expected: m.describe(),
                    found: found.map_or("none".to_string(), |v| format!("{v:?}")),
                });
            }
        }
        Ok((identity.to_string(), issuer))
    }
}
