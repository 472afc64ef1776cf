//! The `dxops-model` image without a container engine: [`build`] writes it
//! as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`),
//! reproducibly; [`push`] sends a layout to a registry through the OCI
//! distribution API.
//!
//! The image is one gzip layer over no base: the binary at
//! `/usr/local/bin/dxops-model` (0755, owned by 65532) and `/etc/passwd`,
//! `/etc/group` naming the non-root user `nonroot` (65532), and a
//! world-writable, sticky `/tmp`. Every tar entry
//! has the same fixed mtime, entries are written in sorted order and the
//! gzip header carries no timestamp or name, so the same binary and epoch
//! give the same manifest digest on every run and machine.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Where the binary lands in the image.
pub const BINARY_PATH: &str = "usr/local/bin/dxops-model";
/// The non-root user and group the image runs as.
pub const USER_ID: u64 = 65532;
/// The port SageMaker's serving contract listens on.
pub const PORT: u16 = 8080;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "cannot read the binary {path}: {source}\nhint: build it with `RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release --locked -p dxops-model --target x86_64-unknown-linux-gnu`, or pass --binary"
    )]
    Binary {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} exists and is not an OCI image layout; choose another --out or remove it")]
    NotALayout { path: PathBuf },
    #[error("{path} is not a usable OCI image layout: {message}")]
    BadLayout { path: PathBuf, message: String },
    #[error("cannot reach the registry at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{operation} {url}: the registry answered {status}{}{}", body_note(.body), status_hint(*.status))]
    Registry {
        operation: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    #[error("the registry stored the manifest as {got}, not {expected}")]
    DigestMismatch { expected: String, got: String },
    #[error("{path} holds no PEM certificate to trust")]
    NoCertificates { path: PathBuf },
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            "\nhint: the registry refused the credentials: an ECR token lasts 12 hours, and the caller needs ecr:GetAuthorizationToken and push rights on the repository"
        }
        404 => "\nhint: no such repository: run `dxops bootstrap` for the environment first",
        _ => "",
    }
}

fn body_note(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {}", body.chars().take(400).collect::<String>())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A content descriptor (digest, size, media type).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Descriptor {
    fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// What [`build`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub layout: PathBuf,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layer: Descriptor,
    /// sha256 of the uncompressed layer (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// The mtime of every entry and the config's `created` (seconds).
    pub epoch: u64,
}

/// The blobs of the image, in memory, before they are written.
struct Image {
    layer: Vec<u8>,
    diff_id: String,
    config: Vec<u8>,
    manifest: Vec<u8>,
}

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nnonroot:x:65532:\n";

/// The uncompressed layer: directories and files in sorted path order.
fn layer_tar(binary: &[u8], epoch: u64) -> Result<Vec<u8>, std::io::Error> {
    // (path, mode, owner, contents); None is a directory.
    let entries: [(&str, u32, u64, Option<&[u8]>); 10] = [
        ("etc/", 0o755, 0, None),
        ("etc/group", 0o644, 0, Some(GROUP.as_bytes())),
        ("etc/passwd", 0o644, 0, Some(PASSWD.as_bytes())),
        ("home/", 0o755, 0, None),
        ("home/nonroot/", 0o700, USER_ID, None),
        // Scratch space for whatever the runtime writes (sticky, as usual).
        ("tmp/", 0o1777, 0, None),
        ("usr/", 0o755, 0, None),
        ("usr/local/", 0o755, 0, None),
        ("usr/local/bin/", 0o755, 0, None),
        (BINARY_PATH, 0o755, USER_ID, Some(binary)),
    ];
    debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
    let mut tar = tar::Builder::new(Vec::new());
    for (path, mode, owner, contents) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(epoch);
        match contents {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, path, std::io::empty())?;
            }
            Some(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, path, bytes)?;
            }
        }
    }
    tar.into_inner()
}

fn image(binary: &[u8], epoch: u64) -> Result<Image, std::io::Error> {
    let tar = layer_tar(binary, epoch)?;
    let diff_id = digest(&tar);
    // No mtime, no file name, a fixed level: the same bytes every time.
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)?;
    let layer = gz.finish()?;
    let created = crate::iso8601(epoch as i64);
    let config = serde_json::to_vec(&json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": format!("{USER_ID}:{USER_ID}"),
            "Entrypoint": ["dxops-model"],
            "Env": ["PATH=/usr/local/bin", format!("SAGEMAKER_BIND_TO_PORT={PORT}")],
            "ExposedPorts": { format!("{PORT}/tcp"): {} },
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": created, "created_by": "dxops image build" }],
    }))
    .map_err(std::io::Error::other)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": Descriptor::of(CONFIG_MEDIA_TYPE, &config),
        "layers": [Descriptor::of(LAYER_MEDIA_TYPE, &layer)],
    }))
    .map_err(std::io::Error::other)?;
    Ok(Image {
        layer,
        diff_id,
        config,
        manifest,
    })
}

/// Writes the image of `binary` as an OCI image layout in `out` (created,
/// or a layout from an earlier build, whose unused blobs are removed).
/// `epoch` is the mtime of every entry (0, or `SOURCE_DATE_EPOCH`).
pub fn build(binary: &Path, out: &Path, epoch: u64) -> Result<Built, ImageError> {
    let bytes = std::fs::read(binary).map_err(|source| ImageError::Binary {
        path: binary.to_path_buf(),
        source,
    })?;
    let image = image(&bytes, epoch).map_err(io(binary))?;
    if out.exists() {
        let empty = std::fs::read_dir(out).map_err(io(out))?.next().is_none();
        if !empty && !out.join("oci-layout").is_file() {
            return Err(ImageError::NotALayout {
                path: out.to_path_buf(),
            });
        }
    }
    let blobs = out.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
    let manifest = Descriptor::of(MANIFEST_MEDIA_TYPE, &image.manifest);
    let config = Descriptor::of(CONFIG_MEDIA_TYPE, &image.config);
    let layer = Descriptor::of(LAYER_MEDIA_TYPE, &image.layer);
    let mut keep = Vec::new();
    for (d, bytes) in [
        (&layer, &image.layer),
        (&config, &image.config),
        (&manifest, &image.manifest),
    ] {
        let name = d.digest.trim_start_matches("sha256:").to_string();
        let path = blobs.join(&name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        keep.push(name);
    }
    for entry in std::fs::read_dir(&blobs).map_err(io(&blobs))? {
        let entry = entry.map_err(io(&blobs))?;
        if !keep.iter().any(|k| entry.file_name() == k.as_str()) {
            std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    let layout = out.join("oci-layout");
    std::fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io(&layout))?;
    let index = out.join("index.json");
    let text = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
            "annotations": { "org.opencontainers.image.ref.name": "latest" },
        }],
    }))
    .map_err(|e| ImageError::Io {
        path: index.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&index, text).map_err(io(&index))?;
    Ok(Built {
        layout: out.to_path_buf(),
        manifest,
        config,
        layer,
        diff_id: image.diff_id,
        epoch,
    })
}

/// An image layout read back: the manifest and the blobs it names.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub manifest: Descriptor,
    manifest_bytes: Vec<u8>,
    /// The config, then the layers.
    pub blobs: Vec<Descriptor>,
}

impl Layout {
    /// Reads `index.json` and the (single) image manifest it names; checks
    /// every blob's digest.
    pub fn open(dir: &Path) -> Result<Layout, ImageError> {
        let bad = |message: String| ImageError::BadLayout {
            path: dir.to_path_buf(),
            message,
        };
        let index_path = dir.join("index.json");
        let index: Value = serde_json::from_slice(
            &std::fs::read(&index_path)
                .map_err(|e| bad(format!("index.json: {e} (run `dxops image build` first)")))?,
        )
        .map_err(|e| bad(format!("index.json: {e}")))?;
        let entry = index["manifests"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .find(|d| d["mediaType"].as_str() == Some(MANIFEST_MEDIA_TYPE))
            })
            .ok_or_else(|| bad("index.json names no image manifest".into()))?;
        let manifest_digest = entry["digest"]
            .as_str()
            .ok_or_else(|| bad("the manifest entry has no digest".into()))?;
        let manifest_bytes = read_blob(dir, manifest_digest)?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| bad(format!("manifest {manifest_digest}: {e}")))?;
        let mut blobs = Vec::new();
        let descriptors = std::iter::once(&manifest["config"]).chain(
            manifest["layers"]
                .as_array()
                .map(|a| a.iter())
                .into_iter()
                .flatten(),
        );
        for d in descriptors {
            let (Some(media_type), Some(digest), Some(size)) = (
                d["mediaType"].as_str(),
                d["digest"].as_str(),
                d["size"].as_u64(),
            ) else {
                return Err(bad(format!(
                    "manifest {manifest_digest}: a descriptor lacks mediaType, digest or size"
                )));
            };
            let bytes = read_blob(dir, digest)?;
            if bytes.len() as u64 != size {
                return Err(bad(format!(
                    "blob {digest} has {} bytes, the manifest says {size}",
                    bytes.len()
                )));
            }
            blobs.push(Descriptor {
                media_type: media_type.into(),
                digest: digest.into(),
                size,
            });
        }
        Ok(Layout {
            dir: dir.to_path_buf(),
            manifest: Descriptor::of(MANIFEST_MEDIA_TYPE, &manifest_bytes),
            manifest_bytes,
            blobs,
        })
    }

    fn blob(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        read_blob(&self.dir, digest)
    }
}

/// A blob of the layout, checked against its digest.
fn read_blob(dir: &Path, want: &str) -> Result<Vec<u8>, ImageError> {
    let Some(hex) = want
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Err(ImageError::BadLayout {
            path: dir.to_path_buf(),
            message: format!("unsupported digest {want}"),
        });
    };
    let path = dir.join("blobs").join("sha256").join(hex);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let got = digest(&bytes);
    if got != want {
        return Err(ImageError::BadLayout {
            path: dir.to_path_buf(),
            message: format!("{} holds {got}", path.display()),
        });
    }
    Ok(bytes)
}

/// A registry to push to: its base URL (`https://host` or
/// `http://127.0.0.1:5000`) and the `Authorization` header, if any.
#[derive(Clone)]
pub struct Registry {
    base: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("base", &self.base)
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What [`push`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    /// `host/repository@sha256:…`, what a task definition or `ImageUri` takes.
    pub reference: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// Blobs sent now.
    pub uploaded: Vec<String>,
    /// Blobs the registry already had.
    pub skipped: Vec<String>,
    /// Whether the tag already pointed at this manifest (nothing was put).
    pub manifest_existed: bool,
}

impl Registry {
    /// A registry at `base`; `authorization` is the whole header value
    /// (`Basic …` for ECR).
    pub fn new(base: &str, authorization: Option<String>) -> Registry {
        Registry::with_roots(base, authorization, ureq::tls::RootCerts::WebPki)
    }

    /// The same registry, trusting only the CA certificates of the PEM file
    /// at `path` instead of the public roots: a mirror behind a private CA,
    /// or a test registry's own certificate.
    pub fn trusting(self, path: &Path) -> Result<Registry, ImageError> {
        let pem = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(ImageError::NoCertificates {
                path: path.to_path_buf(),
            });
        }
        Ok(Registry::with_roots(
            &self.base,
            self.authorization,
            ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)),
        ))
    }

    fn with_roots(
        base: &str,
        authorization: Option<String>,
        roots: ureq::tls::RootCerts,
    ) -> Registry {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(roots)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Registry {
            base: base.trim_end_matches('/').to_string(),
            authorization,
            agent,
        }
    }

    /// `host[:port]` of the registry, as image references name it.
    pub fn host(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, h)| h)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An absolute URL for a `Location` header (which may be relative).
    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            self.url(location)
        }
    }

    fn send(
        &self,
        operation: &'static str,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Reply, ImageError> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header(
                "Accept",
                format!("{MANIFEST_MEDIA_TYPE}, application/vnd.oci.image.index.v1+json"),
            );
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        let unreachable = |message: String| ImageError::Unreachable {
            url: url.to_string(),
            message,
        };
        let result = match body {
            Some(bytes) => request
                .body(bytes)
                .map_err(|e| unreachable(e.to_string()))
                .map(|r| self.agent.run(r)),
            None => request
                .body(())
                .map_err(|e| unreachable(e.to_string()))
                .map(|r| self.agent.run(r)),
        }?;
        let mut response = result.map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header("Location");
        let digest = header("Docker-Content-Digest");
        let mut text = String::new();
        if method != "HEAD" {
            let _ = response
                .body_mut()
                .as_reader()
                .take(64 * 1024)
                .read_to_string(&mut text);
        }
        let reply = Reply {
            status,
            location,
            digest,
        };
        if (200..300).contains(&status) || (method == "HEAD" && status == 404) {
            Ok(reply)
        } else {
            Err(ImageError::Registry {
                operation,
                url: url.to_string(),
                status,
                body: text,
            })
        }
    }
}

struct Reply {
    status: u16,
    location: Option<String>,
    digest: Option<String>,
}

/// Pushes the layout to `repository:tag` in `registry`: each blob the
/// registry lacks (HEAD, then POST and PUT with its digest), then the
/// manifest by tag, whose returned digest must be the layout's. A tag that
/// already names this manifest is left as it is (immutable tags allow it).
pub fn push(
    layout: &Layout,
    registry: &Registry,
    repository: &str,
    tag: &str,
) -> Result<Pushed, ImageError> {
    let mut uploaded = Vec::new();
    let mut skipped = Vec::new();
    for blob in &layout.blobs {
        let url = registry.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
        if registry.send("HEAD", "HEAD", &url, None, None)?.status == 200 {
            skipped.push(blob.digest.clone());
            continue;
        }
        let start = registry.url(&format!("/v2/{repository}/blobs/uploads/"));
        let reply = registry.send("POST", "POST", &start, None, Some(&[]))?;
        let Some(location) = reply.location else {
            return Err(ImageError::Registry {
                operation: "POST",
                url: start,
                status: reply.status,
                body: "no Location header for the upload".into(),
            });
        };
        let location = registry.resolve(&location);
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", blob.digest);
        let bytes = layout.blob(&blob.digest)?;
        registry.send(
            "PUT",
            "PUT",
            &put,
            Some("application/octet-stream"),
            Some(&bytes),
        )?;
        uploaded.push(blob.digest.clone());
    }
    let url = registry.url(&format!("/v2/{repository}/manifests/{tag}"));
    let existing = registry.send("HEAD", "HEAD", &url, None, None)?;
    let manifest_existed =
        existing.status == 200 && existing.digest.as_deref() == Some(&layout.manifest.digest);
    if !manifest_existed {
        let reply = registry.send(
            "PUT",
            "PUT",
            &url,
            Some(MANIFEST_MEDIA_TYPE),
            Some(&layout.manifest_bytes),
        )?;
        match reply.digest {
            Some(got) if got != layout.manifest.digest => {
                return Err(ImageError::DigestMismatch {
                    expected: layout.manifest.digest.clone(),
                    got,
                });
            }
            _ => {}
        }
    }
    Ok(Pushed {
        reference: format!(
            "{}/{repository}@{}",
            registry.host(),
            layout.manifest.digest
        ),
        repository: repository.into(),
        tag: tag.into(),
        digest: layout.manifest.digest.clone(),
        uploaded,
        skipped,
        manifest_existed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, u32, u64, u64)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_layer_holds_the_binary_and_the_user() {
        let img = image(b"#!/bin/true\n", 0).unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&img.layer[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(digest(&tar), img.diff_id);
        let got = entries(&tar);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let bin = got.iter().find(|e| e.0 == BINARY_PATH).unwrap();
        assert_eq!((bin.1, bin.2), (0o755, USER_ID));
        assert!(got.iter().all(|e| e.3 == 0));
        let mut archive = tar::Archive::new(&tar[..]);
        let passwd = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().to_str() == Some("etc/passwd"))
            .map(|mut e| {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                s
            })
            .unwrap();
        assert!(passwd.contains("nonroot:x:65532:65532:"));
        let tmp = got.iter().find(|e| e.0 == "tmp/").unwrap();
        assert_eq!((tmp.1, tmp.2), (0o1777, 0));
        // gzip header: no mtime (bytes 4..8), no FNAME flag.
        assert_eq!(&img.layer[4..8], &[0, 0, 0, 0]);
        assert_eq!(img.layer[3] & 0x08, 0);
    }

    #[test]
    fn the_config_runs_as_nonroot_on_8080() {
        let img = image(b"x", 0).unwrap();
        let config: Value = serde_json::from_slice(&img.config).unwrap();
        assert_eq!(config["architecture"], "amd64");
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Entrypoint"], json!(["dxops-model"]));
        assert_eq!(
            config["config"]["Env"],
            json!(["PATH=/usr/local/bin", "SAGEMAKER_BIND_TO_PORT=8080"])
        );
        assert!(config["config"]["ExposedPorts"]["8080/tcp"].is_object());
        assert_eq!(config["rootfs"]["diff_ids"], json!([img.diff_id]));
    }

    #[test]
    fn same_binary_same_digest_other_binary_or_epoch_other_digest() {
        let a = image(b"binary", 0).unwrap();
        let b = image(b"binary", 0).unwrap();
        assert_eq!(digest(&a.manifest), digest(&b.manifest));
        assert_ne!(
            digest(&a.manifest),
            digest(&image(b"binary2", 0).unwrap().manifest)
        );
        let later = image(b"binary", 1_700_000_000).unwrap();
        assert_ne!(digest(&a.manifest), digest(&later.manifest));
        assert!(
            entries(&later_tar(&later))
                .iter()
                .all(|e| e.3 == 1_700_000_000)
        );
    }

    /// The digest of a fixed input, written down: a change of the tar or
    /// gzip encoding (a dependency update included) changes every image's
    /// digest, and this says so before a registry does.
    #[test]
    fn a_fixed_binary_has_a_known_digest() {
        let img = image(b"binary", 0).unwrap();
        assert_eq!(
            digest(&img.manifest),
            "sha256:89893f98b3449dc584367f0e7b9108777faffa11fb6734330d9107513fcf439f"
        );
    }

    fn later_tar(img: &Image) -> Vec<u8> {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&img.layer[..])
            .read_to_end(&mut tar)
            .unwrap();
        tar
    }

    #[test]
    fn a_layout_reads_back_and_a_tampered_blob_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"model").unwrap();
        let out = dir.path().join("layout");
        let built = build(&bin, &out, 0).unwrap();
        let layout = Layout::open(&out).unwrap();
        assert_eq!(layout.manifest, built.manifest);
        assert_eq!(
            layout.blobs,
            vec![built.config.clone(), built.layer.clone()]
        );
        // A rebuild of another binary leaves only its own blobs.
        std::fs::write(&bin, b"model 2").unwrap();
        let again = build(&bin, &out, 0).unwrap();
        assert_eq!(
            std::fs::read_dir(out.join("blobs/sha256")).unwrap().count(),
            3
        );
        assert_ne!(again.manifest.digest, built.manifest.digest);
        let hex = again.layer.digest.trim_start_matches("sha256:");
        std::fs::write(out.join("blobs/sha256").join(hex), b"tampered").unwrap();
        let err = Layout::open(&out).unwrap_err().to_string();
        assert!(err.contains("holds sha256:"), "{err}");
    }

    #[test]
    fn a_folder_that_is_not_a_layout_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::write(&bin, b"model").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"keep").unwrap();
        let err = build(&bin, dir.path(), 0).unwrap_err();
        assert!(matches!(err, ImageError::NotALayout { .. }), "{err}");
        let err = build(&dir.path().join("missing"), &dir.path().join("o"), 0).unwrap_err();
        assert!(matches!(err, ImageError::Binary { .. }), "{err}");
    }
}
