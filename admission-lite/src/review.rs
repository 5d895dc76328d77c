//! AdmissionReview v1 (admission.k8s.io/v1): reading the request, finding the images of a
//! workload, writing the response and its JSONPatch.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

/// The parts of an AdmissionReview request the webhook uses.
#[derive(Debug, Clone)]
pub struct Review {
    pub uid: String,
    /// `request.kind.kind`: Pod, Deployment, ...
    pub kind: String,
    pub namespace: String,
    pub operation: String,
    pub object: Value,
}

/// Why a body is not an AdmissionReview request (answered with a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAReview(pub String);

/// Reads an AdmissionReview v1 request.
pub fn parse(body: &[u8]) -> Result<Review, NotAReview> {
    let bad = |m: &str| NotAReview(m.to_string());
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| NotAReview(format!("the body is not JSON: {e}")))?;
    if v["apiVersion"] != "admission.k8s.io/v1" {
        return Err(NotAReview(format!(
            "apiVersion {} is not admission.k8s.io/v1 (register the webhook with admissionReviewVersions [v1])",
            v["apiVersion"]
        )));
    }
    if v["kind"] != "AdmissionReview" {
        return Err(NotAReview(format!(
            "kind {} is not AdmissionReview",
            v["kind"]
        )));
    }
    let req = v
        .get("request")
        .filter(|r| r.is_object())
        .ok_or_else(|| bad("the AdmissionReview has no request"))?;
    let uid = req["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| bad("request.uid is missing"))?;
    let kind = req["kind"]["kind"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad("request.kind.kind is missing"))?;
    let operation = req["operation"]
        .as_str()
        .ok_or_else(|| bad("request.operation is missing"))?;
    if !["CREATE", "UPDATE", "DELETE", "CONNECT"].contains(&operation) {
        return Err(NotAReview(format!(
            "request.operation {operation:?} is not CREATE, UPDATE, DELETE or CONNECT"
        )));
    }
    let object = req.get("object").cloned().unwrap_or(Value::Null);
    if matches!(operation, "CREATE" | "UPDATE") && !object.is_object() {
        return Err(bad("request.object is missing"));
    }
    Ok(Review {
        uid: uid.to_string(),
        kind: kind.to_string(),
        namespace: req["namespace"]
            .as_str()
            .or_else(|| object["metadata"]["namespace"].as_str())
            .unwrap_or("default")
            .to_string(),
        operation: operation.to_string(),
        object,
    })
}

/// An image of a workload and where it is (a JSON pointer into the object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub pointer: String,
    pub image: String,
}

/// Where the pod spec of each kind lives.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "/spec",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    })
}

/// The images of a Pod or a pod controller (containers, initContainers, ephemeralContainers).
pub fn images(kind: &str, object: &Value) -> Result<Vec<Image>, String> {
    let at = pod_spec_pointer(kind).ok_or_else(|| {
        format!("admission-lite checks Pods and pod controllers (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), not {kind}")
    })?;
    let spec = object
        .pointer(at)
        .filter(|s| s.is_object())
        .ok_or_else(|| format!("the {kind} has no pod spec at {at}"))?;
    let mut out = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(cs) = spec.get(list) else { continue };
        let cs = cs
            .as_array()
            .ok_or_else(|| format!("{at}/{list} is not a list"))?;
        for (i, c) in cs.iter().enumerate() {
            let image = c["image"]
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("{at}/{list}/{i} has no image"))?;
            out.push(Image {
                pointer: format!("{at}/{list}/{i}/image"),
                image: image.to_string(),
            });
        }
    }
    if out.is_empty() {
        return Err(format!("the {kind} has no container images"));
    }
    Ok(out)
}

/// What the webhook answers.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub allowed: bool,
    /// HTTP-like status code of a denial (403 refused, 400 malformed object).
    pub code: u16,
    pub message: String,
    pub warnings: Vec<String>,
    /// JSONPatch operations (mutating path).
    pub patch: Vec<Value>,
}

/// The AdmissionReview v1 response for `uid`.
pub fn response(uid: &str, d: &Decision) -> Value {
    let mut r = json!({"uid": uid, "allowed": d.allowed});
    if !d.message.is_empty() || !d.allowed {
        r["status"] = if d.allowed {
            json!({"code": 200, "message": d.message})
        } else {
            json!({"code": d.code, "message": d.message, "reason": "Forbidden", "status": "Failure"})
        };
    }
    if !d.warnings.is_empty() {
        r["warnings"] = json!(d.warnings);
    }
    if !d.patch.is_empty() {
        r["patchType"] = json!("JSONPatch");
        r["patch"] = json!(B64.encode(serde_json::to_vec(&d.patch).expect("serializes")));
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(kind: &str, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": kind},
                "operation": "CREATE", "namespace": "ns", "object": object}
        }))
        .unwrap()
    }

    #[test]
    fn reads_requests_and_refuses_what_is_not_one() {
        let r = parse(&review("Pod", json!({"spec": {}}))).unwrap();
        assert_eq!(
            (r.uid.as_str(), r.kind.as_str(), r.namespace.as_str()),
            ("u-1", "Pod", "ns")
        );
        for (body, why) in [
            (b"{".to_vec(), "not JSON"),
            (br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#.to_vec(), "v1beta1"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#.to_vec(), "not AdmissionReview"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), "no request"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":{}}}"#.to_vec(), "uid"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"PATCH","object":{}}}"#.to_vec(), "operation"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"kind":"Pod"},"operation":"CREATE"}}"#.to_vec(), "object"),
        ] {
            let e = parse(&body).unwrap_err();
            assert!(e.0.contains(why), "{why}: {}", e.0);
        }
    }

    #[test]
    fn finds_images_with_pointers() {
        let pod = json!({"spec": {"initContainers": [{"name": "i", "image": "r/i:1"}],
            "containers": [{"name": "a", "image": "r/a:1"}, {"name": "b", "image": "r/b@sha256:00"}],
            "ephemeralContainers": [{"name": "d", "image": "r/d"}]}});
        let got = images("Pod", &pod).unwrap();
        let ptrs: Vec<_> = got.iter().map(|i| i.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            [
                "/spec/initContainers/0/image",
                "/spec/containers/0/image",
                "/spec/containers/1/image",
                "/spec/ephemeralContainers/0/image"
            ]
        );
        for i in &got {
            assert_eq!(pod.pointer(&i.pointer).unwrap(), &json!(i.image));
        }
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "x/y:z"}]}}}}}});
        assert_eq!(
            images("CronJob", &cron).unwrap()[0].pointer,
            "/spec/jobTemplate/spec/template/spec/containers/0/image"
        );
        assert!(images("ConfigMap", &json!({}))
            .unwrap_err()
            .contains("not ConfigMap"));
        assert!(images("Pod", &json!({"spec": {"containers": []}}))
            .unwrap_err()
            .contains("no container images"));
        assert!(
            images("Pod", &json!({"spec": {"containers": [{"name": "a"}]}}))
                .unwrap_err()
                .contains("has no image")
        );
        assert!(images("Deployment", &json!({"spec": {}}))
            .unwrap_err()
            .contains("no pod spec"));
    }

    #[test]
    fn responses_echo_the_uid_and_encode_the_patch() {
        let d = Decision {
            allowed: true,
            patch: vec![
                json!({"op": "replace", "path": "/spec/containers/0/image", "value": "r/a:1@sha256:ab"}),
            ],
            ..Default::default()
        };
        let r = response("u-9", &d);
        assert_eq!(r["response"]["uid"], "u-9");
        assert_eq!(r["response"]["patchType"], "JSONPatch");
        let p: Value = serde_json::from_slice(
            &B64.decode(r["response"]["patch"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(p, json!(d.patch));
        let deny = response(
            "u",
            &Decision {
                allowed: false,
                code: 403,
                message: "no".into(),
                ..Default::default()
            },
        );
        assert_eq!(deny["response"]["allowed"], false);
        assert_eq!(deny["response"]["status"]["code"], 403);
        assert!(deny["response"].get("patch").is_none());
    }
}
