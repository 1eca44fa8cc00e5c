//! The artifact store: datasets, models and plots, through `object_store`, so the
//! same code writes to a local folder (the default) or to S3/GCS/Azure (`cloud`
//! feature). Blobs are content-addressed by SHA-256 and written before the metadata
//! row that points at them, so a row never names a missing blob.

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Why `CAIRN_ARTIFACTS` could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("could not create the artifact folder {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("CAIRN_ARTIFACTS={location} is not usable: {message}")]
    Invalid { location: String, message: String },
}

#[derive(Clone)]
pub struct ArtifactStore {
    inner: Arc<dyn ObjectStore>,
    /// Where the store lives, for display (no credentials: they come from the
    /// cloud SDK's own environment variables, never from the URL we print).
    location: String,
    /// Key prefix inside a bucket URL (empty for a local folder).
    prefix: Path,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore").field("location", &self.location).finish()
    }
}

/// A stored blob's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// Key inside the store, e.g. `blobs/sha256/ab/abcdef...`.
    pub key: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
}

impl ArtifactStore {
    /// Opens a local folder (created if absent) or, with the `cloud` feature, an
    /// `s3://`, `gs://` or `az://` URL.
    pub fn open(location: &str) -> Result<Self, OpenError> {
        let invalid = |message: String| OpenError::Invalid { location: location.to_string(), message };
        if let Some((scheme, _)) = location.split_once("://") {
            if scheme == "file" {
                let path = location.trim_start_matches("file://");
                return Self::open_local(path);
            }
            return Self::open_url(location, scheme).map_err(invalid);
        }
        Self::open_local(location)
    }

    fn open_local(path: &str) -> Result<Self, OpenError> {
        std::fs::create_dir_all(path)
            .map_err(|source| OpenError::CreateDir { path: path.to_string(), source })?;
        let abs = std::fs::canonicalize(path)
            .map_err(|source| OpenError::CreateDir { path: path.to_string(), source })?;
        let fs = LocalFileSystem::new_with_prefix(&abs)
            .map_err(|e| OpenError::Invalid { location: path.to_string(), message: e.to_string() })?;
        Ok(Self { inner: Arc::new(fs), location: abs.display().to_string(), prefix: Path::default() })
    }

    #[cfg(feature = "cloud")]
    fn open_url(location: &str, _scheme: &str) -> Result<Self, String> {
        let url = url::Url::parse(location).map_err(|e| e.to_string())?;
        // The cloud SDKs' standard variables (AWS_*, GOOGLE_*, AZURE_*) carry credentials.
        let opts = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_"));
        let (store, prefix) = object_store::parse_url_opts(&url, opts).map_err(|e| e.to_string())?;
        Ok(Self { inner: Arc::from(store), location: location.to_string(), prefix })
    }

    #[cfg(not(feature = "cloud"))]
    fn open_url(_location: &str, scheme: &str) -> Result<Self, String> {
        Err(format!(
            "'{scheme}://' stores need a build with `--features cloud`; use a local folder path instead"
        ))
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    fn path(&self, key: &str) -> Path {
        let key = Path::from(key);
        self.prefix.parts().chain(key.parts()).collect()
    }

    /// Stores `bytes` under its own SHA-256; storing the same content twice is free.
    pub async fn put_blob(&self, bytes: Bytes) -> Result<StoredBlob, object_store::Error> {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let key = format!("blobs/sha256/{}/{}", &sha256[..2], sha256);
        let size = bytes.len() as u64;
        if !self.exists(&key).await? {
            self.inner.put(&self.path(&key), PutPayload::from(bytes)).await?;
        }
        Ok(StoredBlob { key, sha256, size })
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, object_store::Error> {
        self.inner.get(&self.path(key)).await?.bytes().await
    }

    /// Stores `bytes` under a caller-chosen key (tracking artifacts keep their names).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), object_store::Error> {
        self.inner.put(&self.path(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// The entries directly under `key`: (name relative to `key`, is a folder, size).
    pub async fn list_dir(&self, key: &str) -> Result<Vec<(String, bool, u64)>, object_store::Error> {
        let base = self.path(key);
        let listed = self.inner.list_with_delimiter(Some(&base)).await?;
        let name = |p: &Path| p.filename().unwrap_or_default().to_string();
        let mut out: Vec<(String, bool, u64)> =
            listed.common_prefixes.iter().map(|p| (name(p), true, 0)).collect();
        out.extend(listed.objects.iter().map(|o| (name(&o.location), false, o.size)));
        out.sort();
        Ok(out)
    }

    /// Streams a local file to `key` in parts, so a large dataset never sits in
    /// memory whole.
    pub async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<(), object_store::Error> {
        use tokio::io::AsyncReadExt;
        let upload = self.inner.put_multipart(&self.path(key)).await?;
        let mut writer = object_store::WriteMultipart::new(upload);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
        let mut buf = vec![0u8; 8 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Removes `key`; a missing key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, object_store::Error> {
        match self.inner.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_content_addressed_and_read_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = ArtifactStore::open(&dir.path().join("artifacts").display().to_string())?;
        let a = store.put_blob(Bytes::from_static(b"hello cairn")).await?;
        let b = store.put_blob(Bytes::from_static(b"hello cairn")).await?;
        assert_eq!(a, b);
        // sha256("hello cairn") computed with `printf 'hello cairn' | sha256sum`.
        assert_eq!(a.sha256, "61c088bf914616d64f832067c3d2bbea7149effd4cdac1a87205fff475db39af");
        assert_eq!(a.size, 11);
        assert_eq!(store.get(&a.key).await?, Bytes::from_static(b"hello cairn"));
        assert!(store.exists(&a.key).await?);
        assert!(!store.exists("blobs/sha256/00/none").await?);
        Ok(())
    }

    #[test]
    fn cloud_urls_need_the_cloud_feature() {
        #[cfg(not(feature = "cloud"))]
        {
            let err = ArtifactStore::open("s3://bucket/prefix").unwrap_err().to_string();
            assert!(err.contains("--features cloud"), "{err}");
        }
    }
}
