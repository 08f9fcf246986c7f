//! Private PostgreSQL clusters for tests that restart the server, need
//! password authentication or TLS with a CA of their own. Each lives in a
//! temporary folder on a free 127.0.0.1 port and stops when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use strata_providers::postgres::{LocalPostgres, LocalPostgresOptions, find_postgres_bin_dir};

/// A running private cluster and the folder it lives in.
pub struct PrivateCluster {
    pub server: LocalPostgres,
    // Dropped after `server` (fields drop in order), so the server stops
    // before its folder goes.
    pub _dir: tempfile::TempDir,
}

/// Starts a cluster, panicking with what is missing when it cannot.
pub async fn start(password: Option<&str>, settings: Vec<(String, String)>) -> PrivateCluster {
    start_in(tempfile::tempdir().unwrap(), password, settings).await
}

/// Like [`start`], in a folder the caller prepared (e.g. with certificates).
pub async fn start_in(
    dir: tempfile::TempDir,
    password: Option<&str>,
    settings: Vec<(String, String)>,
) -> PrivateCluster {
    if let Err(err) = find_postgres_bin_dir() {
        panic!(
            "these tests need PostgreSQL's server binaries: {err}. On Debian/Ubuntu: \
             `apt-get install postgresql`"
        );
    }
    let options = LocalPostgresOptions {
        password: password.map(str::to_owned),
        settings,
        ..LocalPostgresOptions::new(dir.path())
    };
    let server = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        LocalPostgres::start(options),
    )
    .await
    .expect("starting a private PostgreSQL timed out")
    .unwrap_or_else(|e| panic!("starting a private PostgreSQL failed: {e}"));
    PrivateCluster { server, _dir: dir }
}

/// The PEM files of a test CA and a server certificate it signed for
/// `localhost` and `127.0.0.1`.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A CA that signed nothing the server has.
    pub other_ca: PathBuf,
}

/// Makes the certificates with the `openssl` command in `dir`; the key is
/// readable by the server's user only.
pub fn make_tls_files(dir: &Path) -> TlsFiles {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the `openssl` command is needed to make test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for ca in ["ca", "other-ca"] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=Strata test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
    }
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    let key = dir.join("server.key");
    // The server checks that only its own user can read the key.
    let status = Command::new("chmod").arg("600").arg(&key).status().unwrap();
    assert!(status.success());
    if is_root() {
        for file in ["server.key", "server.pem"] {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(dir.join(file))
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key,
        other_ca: dir.join("other-ca.pem"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
