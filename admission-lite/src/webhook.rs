//! The decisions: for each image of a workload, the policies that match it, the digest it is
//! (or must be) pinned to, and whether every matching policy admits it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use registry_client::{Reference, Registry};
use serde_json::json;
use sigstore_lite_core::verify::TrustMaterial;

use crate::policy::{ImagePolicy, Mode, PolicySet};
use crate::review::{self, Decision, Review};
use crate::verify;

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub reviews: AtomicU64,
    pub allowed: AtomicU64,
    pub denied: AtomicU64,
    pub verifications: AtomicU64,
    pub cache_hits: AtomicU64,
    pub registry_errors: AtomicU64,
}

type Verdict = Result<String, String>;

/// The webhook: policies, trust material, a registry client and a verdict cache.
pub struct Webhook {
    pub policies: PolicySet,
    pub material: TrustMaterial,
    pub registry: Registry,
    /// How long a verdict for (digest, policy) is reused.
    pub ttl: Duration,
    cache: Mutex<HashMap<(String, usize), (Instant, Verdict)>>,
    pub counters: Counters,
}

/// How one image fared.
enum Outcome {
    Fail(Mode, String),
}

impl Webhook {
    pub fn new(
        policies: PolicySet,
        material: TrustMaterial,
        registry: Registry,
        ttl: Duration,
    ) -> Webhook {
        Webhook {
            policies,
            material,
            registry,
            ttl,
            cache: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        }
    }

    fn cached(&self, key: &(String, usize)) -> Option<Verdict> {
        let c = self.cache.lock().expect("cache lock");
        c.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn remember(&self, key: (String, usize), v: Verdict) {
        let mut c = self.cache.lock().expect("cache lock");
        if c.len() >= 100_000 {
            let ttl = self.ttl;
            c.retain(|_, (at, _)| at.elapsed() < ttl);
            if c.len() >= 100_000 {
                c.clear();
            }
        }
        c.insert(key, (Instant::now(), v));
    }

    /// Decides a review: `mutate` pins tags to digests (the mutating webhook); otherwise the
    /// images are verified (the validating webhook). `now` is the current time in seconds.
    pub async fn decide(&self, rv: &Review, mutate: bool, now: i64) -> Decision {
        self.counters.reviews.fetch_add(1, Ordering::Relaxed);
        let d = self.decide_inner(rv, mutate, now).await;
        if d.allowed {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
        }
        d
    }

    async fn decide_inner(&self, rv: &Review, mutate: bool, now: i64) -> Decision {
        if !matches!(rv.operation.as_str(), "CREATE" | "UPDATE") {
            return Decision {
                allowed: true,
                message: format!("{} needs no image check", rv.operation),
                ..Default::default()
            };
        }
        let images = match review::images(&rv.kind, &rv.object) {
            Ok(i) => i,
            Err(e) => {
                return Decision {
                    allowed: false,
                    code: 400,
                    message: e,
                    ..Default::default()
                }
            }
        };
        // The images are checked concurrently (each is registry round trips, then crypto);
        // results are gathered in the object's order.
        let per_image = futures_util::future::join_all(
            images
                .iter()
                .map(|img| self.check_image(rv, img, mutate, now)),
        )
        .await;
        let mut fails = Vec::new();
        let mut notes = Vec::new();
        let mut patch = Vec::new();
        for (f, n, p) in per_image {
            fails.extend(f);
            notes.extend(n);
            patch.extend(p);
        }
        let (denies, warns): (Vec<_>, Vec<_>) = fails
            .into_iter()
            .partition(|Outcome::Fail(m, _)| *m == Mode::Enforce);
        let warnings: Vec<String> = warns.into_iter().map(|Outcome::Fail(_, m)| m).collect();
        if !denies.is_empty() {
            return Decision {
                allowed: false,
                code: 403,
                message: denies
                    .into_iter()
                    .map(|Outcome::Fail(_, m)| m)
                    .collect::<Vec<_>>()
                    .join("; "),
                warnings,
                patch: Vec::new(),
            };
        }
        Decision {
            allowed: true,
            code: 200,
            message: notes.join("; "),
            warnings,
            patch,
        }
    }

    /// One image: its failures, notes and patch operations.
    async fn check_image(
        &self,
        rv: &Review,
        img: &review::Image,
        mutate: bool,
        now: i64,
    ) -> (Vec<Outcome>, Vec<String>, Vec<serde_json::Value>) {
        let (mut fails, mut notes, mut patch) = (Vec::new(), Vec::new(), Vec::new());
        let r = match Reference::parse(&img.image) {
            Ok(r) => r,
            Err(e) => {
                fails.push(Outcome::Fail(
                    Mode::Enforce,
                    format!("image {} (at {}): {e}", img.image, img.pointer),
                ));
                return (fails, notes, patch);
            }
        };
        let normalized = r.to_string();
        let matching: Vec<(usize, &ImagePolicy)> = self
            .policies
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.applies(&img.image, &normalized, &rv.kind, &rv.namespace))
            .collect();
        if matching.is_empty() {
            notes.push(format!("image {} matches no policy", img.image));
        } else if mutate {
            self.pin(img, &r, &matching, &mut patch, &mut fails, &mut notes)
                .await;
        } else {
            self.verify(img, &r, &matching, now, &mut fails, &mut notes)
                .await;
        }
        (fails, notes, patch)
    }

    /// The mutating path: a tag becomes `registry/repo:tag@sha256:...` (as Kyverno and
    /// policy-controller write it).
    async fn pin(
        &self,
        img: &review::Image,
        r: &Reference,
        matching: &[(usize, &ImagePolicy)],
        patch: &mut Vec<serde_json::Value>,
        fails: &mut Vec<Outcome>,
        notes: &mut Vec<String>,
    ) {
        if r.digest.is_some() || !matching.iter().any(|(_, p)| p.mutate_digest) {
            return;
        }
        match self.registry.resolve(r).await {
            Ok(d) => {
                let pinned = format!("{}@{d}", r);
                notes.push(format!("image {} pinned to {pinned}", img.image));
                patch.push(json!({"op": "replace", "path": img.pointer, "value": pinned}));
            }
            Err(e) => {
                self.counters
                    .registry_errors
                    .fetch_add(1, Ordering::Relaxed);
                for (_, p) in matching.iter().filter(|(_, p)| p.mutate_digest) {
                    fails.push(Outcome::Fail(
                        p.mode,
                        format!(
                            "image {}: policy {}: cannot resolve the tag to a digest: {e}",
                            img.image, p.name
                        ),
                    ));
                }
            }
        }
    }

    /// The validating path.
    async fn verify(
        &self,
        img: &review::Image,
        r: &Reference,
        matching: &[(usize, &ImagePolicy)],
        now: i64,
        fails: &mut Vec<Outcome>,
        notes: &mut Vec<String>,
    ) {
        let fail = |fails: &mut Vec<Outcome>, p: &ImagePolicy, why: String| {
            fails.push(Outcome::Fail(
                p.mode,
                format!("image {}: policy {}: {why}", img.image, p.name),
            ))
        };
        // The digest: pinned, or (for policies that allow tags) resolved now. A pinned tag
        // must still name the pinned digest.
        let digest = match (&r.digest, &r.tag) {
            (Some(d), None) => d.clone(),
            (pinned, _) => match self
                .registry
                .resolve(&Reference {
                    digest: None,
                    ..r.clone()
                })
                .await
            {
                Ok(now_at) => {
                    if let Some(d) = pinned {
                        if *d != now_at {
                            for (_, p) in matching.iter().filter(|(_, p)| p.verify_digest) {
                                fail(
                                    fails,
                                    p,
                                    format!(
                                        "the tag {} now points to {now_at}, not the pinned {d}",
                                        r.tag.as_deref().unwrap_or("")
                                    ),
                                );
                            }
                        }
                        d.clone()
                    } else {
                        now_at
                    }
                }
                Err(e) => {
                    self.counters
                        .registry_errors
                        .fetch_add(1, Ordering::Relaxed);
                    for (_, p) in matching {
                        fail(
                            fails,
                            p,
                            format!("cannot read the image from the registry: {e}"),
                        );
                    }
                    return;
                }
            },
        };
        let mut attached: Option<verify::Attached> = None;
        for (i, p) in matching {
            if r.digest.is_none() && p.verify_digest {
                fail(
                    fails,
                    p,
                    "must be an image digest (the mutating webhook pins tags to digests)".into(),
                );
                continue;
            }
            let key = (digest.clone(), *i);
            let verdict = match self.cached(&key) {
                Some(v) => {
                    self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                    v
                }
                None => {
                    if attached.is_none() {
                        match verify::fetch(&self.registry, r, &digest).await {
                            Ok(a) => attached = Some(a),
                            Err(e) => {
                                self.counters
                                    .registry_errors
                                    .fetch_add(1, Ordering::Relaxed);
                                fail(
                                    fails,
                                    p,
                                    format!("cannot read its signatures from the registry: {e}"),
                                );
                                continue;
                            }
                        }
                    }
                    self.counters.verifications.fetch_add(1, Ordering::Relaxed);
                    let v = verify::evaluate(
                        p,
                        attached.as_ref().expect("fetched"),
                        &digest,
                        &self.material,
                        now,
                    );
                    self.remember(key, v.clone());
                    v
                }
            };
            match verdict {
                Ok(by) => notes.push(format!(
                    "image {} ({digest}) admitted by policy {} ({by})",
                    img.image, p.name
                )),
                Err(why) => fail(fails, p, why),
            }
        }
    }
}
