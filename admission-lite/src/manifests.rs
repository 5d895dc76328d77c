//! `admission-lite manifests`: what to `kubectl apply` to run the webhook in a cluster.
//! A MutatingWebhookConfiguration (tags to digests) and a ValidatingWebhookConfiguration
//! (verification), both failurePolicy Fail and sideEffects None, skipping kube-system and the
//! webhook's own namespace; the Deployment, Service, TLS Secret and a ConfigMap with the
//! policies and the trusted root.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use std::path::PathBuf;

use crate::Error;

#[derive(clap::Args)]
pub struct ManifestArgs {
    #[arg(long)]
    pub namespace: String,
    /// The webhook's Service (and Deployment, Secret, ConfigMap) name.
    #[arg(long)]
    pub service: String,
    /// The CA that signed the serving certificate (PEM), for the registrations' caBundle.
    #[arg(long, value_name = "PEM")]
    pub ca_bundle: Option<PathBuf>,
    /// The serving certificate and key for the Secret.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Make (once) a CA and a serving certificate for the Service's DNS names in DIR.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["tls_cert", "ca_bundle"])]
    pub self_signed: Option<PathBuf>,
    /// Policy files to ship in the ConfigMap; repeatable.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// The trusted_root.json to ship in the ConfigMap.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// The container image of admission-lite.
    #[arg(long, default_value = "admission-lite:0.1.0")]
    pub image: String,
    /// The API server's timeout for each call (1-30).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub timeout_seconds: u32,
}

/// The Kubernetes version the manifests are written for (and validated against in tests).
pub const KUBERNETES_VERSION: &str = "1.32";

const PORT: u16 = 8443;

fn read(p: &Path) -> Result<String, Error> {
    std::fs::read_to_string(p)
        .map_err(|e| Error::Io(format!("{} cannot be read: {e}", p.display())))
}

/// The manifests as one multi-document YAML text.
pub fn print(a: &ManifestArgs) -> Result<String, Error> {
    let name = a.service.as_str();
    let ns = a.namespace.as_str();
    let (ca, cert, key) = match (&a.self_signed, &a.ca_bundle, &a.tls_cert, &a.tls_key) {
        (Some(dir), None, None, None) => {
            let sans = vec![
                format!("{name}.{ns}.svc"),
                format!("{name}.{ns}.svc.cluster.local"),
            ];
            let f = crate::material::self_signed(dir, &sans)?;
            (read(&f.ca)?, read(&f.cert)?, read(&f.key)?)
        }
        (None, Some(ca), Some(c), Some(k)) => (read(ca)?, read(c)?, read(k)?),
        _ => {
            return Err(Error::Io(
                "give --ca-bundle with --tls-cert and --tls-key, or --self-signed DIR".into(),
            ))
        }
    };
    if !ca.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Tls("the CA bundle is not a PEM certificate".into()));
    }
    let mut config = serde_json::Map::new();
    let mut args = vec![
        json!("serve"),
        json!(format!("--addr=0.0.0.0:{PORT}")),
        json!("--tls-cert=/tls/tls.crt"),
        json!("--tls-key=/tls/tls.key"),
    ];
    for (i, p) in a.policies.iter().enumerate() {
        let text = read(p)?;
        // Refuse here what the webhook would refuse at start.
        crate::policy::parse(&p.display().to_string(), &text)?;
        let file = format!("policy-{i}.yaml");
        args.push(json!(format!("--policy=/config/{file}")));
        config.insert(file, json!(text));
    }
    if let Some(tr) = &a.trusted_root {
        crate::material::load_trust(tr)?;
        config.insert("trusted_root.json".into(), json!(read(tr)?));
        args.push(json!("--trusted-root=/config/trusted_root.json"));
    }
    let labels = json!({"app.kubernetes.io/name": name});
    let rules = json!([
        {"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"},
        {"operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"], "scope": "Namespaced"},
        {"operations": ["CREATE", "UPDATE"], "apiGroups": ["batch"], "apiVersions": ["v1"], "resources": ["jobs", "cronjobs"], "scope": "Namespaced"},
    ]);
    let webhook = |path: &str, hook: &str| {
        json!({
            "name": format!("{hook}.{name}.{ns}.svc"),
            "clientConfig": {
                "service": {"namespace": ns, "name": name, "path": path, "port": 443},
                "caBundle": B64.encode(ca.as_bytes()),
            },
            "rules": rules,
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "timeoutSeconds": a.timeout_seconds,
            "admissionReviewVersions": ["v1"],
            "namespaceSelector": {"matchExpressions": [{
                "key": "kubernetes.io/metadata.name", "operator": "NotIn",
                "values": ["kube-system", ns],
            }]},
        })
    };
    let mut mutating = webhook("/mutate", "pin");
    mutating["reinvocationPolicy"] = json!("IfNeeded");
    let docs: Vec<Value> = vec![
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": format!("{name}-tls"), "namespace": ns, "labels": labels},
            "data": {"tls.crt": B64.encode(cert.as_bytes()), "tls.key": B64.encode(key.as_bytes())}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{name}-config"), "namespace": ns, "labels": labels},
            "data": config}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {
                    "containers": [{"name": "webhook", "image": a.image, "args": args,
                        "ports": [{"name": "https", "containerPort": PORT}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": PORT, "scheme": "HTTPS"}},
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": PORT, "scheme": "HTTPS"}},
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true,
                            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": true},
                            {"name": "config", "mountPath": "/config", "readOnly": true}]}],
                    "volumes": [{"name": "tls", "secret": {"secretName": format!("{name}-tls")}},
                        {"name": "config", "configMap": {"name": format!("{name}-config")}}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": PORT}]}}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": format!("{name}-{ns}"), "labels": labels},
            "webhooks": [mutating]}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": format!("{name}-{ns}"), "labels": labels},
            "webhooks": [webhook("/validate", "verify")]}),
    ];
    let mut out = format!(
        "# admission-lite {} for Kubernetes {KUBERNETES_VERSION}: kubectl create namespace {ns}; kubectl apply -f this file\n",
        env!("CARGO_PKG_VERSION")
    );
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&d).map_err(|e| Error::Io(e.to_string()))?);
    }
    Ok(out)
}
