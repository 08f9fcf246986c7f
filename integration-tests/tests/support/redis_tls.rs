//! Test certificates for a TLS `redis-server`, made with the `openssl` CLI: a
//! fresh CA and a server certificate for 127.0.0.1 / localhost signed by it.

use std::path::Path;
use std::process::Command;

/// The CA certificate (PEM), to pass as `tls_ca_file`.
pub const CA_FILE: &str = "ca.pem";
/// The server certificate (PEM).
pub const CERT_FILE: &str = "server.pem";
/// The server's private key (PEM).
pub const KEY_FILE: &str = "server.key";

/// Writes the CA and server certificate files into `dir`.
pub fn make_certs(dir: &Path) {
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write san.ext");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                CA_FILE,
                "-days",
                "2",
                "-subj",
                "/CN=strata-test-ca",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                KEY_FILE,
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            CA_FILE,
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            CERT_FILE,
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `openssl` (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
