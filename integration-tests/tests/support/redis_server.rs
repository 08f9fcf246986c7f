//! A private `redis-server` on a free 127.0.0.1 port, in its own temp dir,
//! that a test can kill and restart on the same port. Killed on drop.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::redis_raw::{RawRedis, Reply};

/// How to start the shared server when it is missing.
pub const START_HINT: &str = "start one with: \
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no \
    (or point STRATA_TEST_REDIS_URL at one)";

/// A `redis-server` child process.
pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
    /// Serves TLS only, with the certificates in `dir`.
    tls: bool,
}

impl PrivateRedis {
    /// Starts `redis-server` with `args` added to the defaults (no
    /// persistence, loopback only) and waits until it answers.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(args, false)
    }

    /// Starts a server that speaks only TLS, with a certificate for
    /// 127.0.0.1 signed by a fresh test CA (see [`Self::ca_file`]).
    pub fn start_tls() -> Self {
        Self::start_with(&[], true)
    }

    fn start_with(args: &[&str], tls: bool) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir for redis-server");
        if tls {
            super::redis_tls::make_certs(dir.path());
        }
        let mut server = Self {
            child: None,
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            dir,
            tls,
        };
        server.spawn();
        server
    }

    /// The PEM file of the CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join(super::redis_tls::CA_FILE)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A raw connection, authenticated with `password` when given.
    pub fn raw(&self, password: Option<&str>) -> RawRedis {
        let mut raw = RawRedis::connect(&self.addr()).expect("raw connection to private redis");
        if let Some(password) = password {
            raw.ok(&["AUTH", password]);
        }
        raw
    }

    /// Freezes the server (SIGSTOP): it keeps its connections but answers
    /// nothing, so calls sent now stay in flight.
    pub fn freeze(&self) {
        let pid = self.child.as_ref().expect("server not running").id();
        let status = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .expect("run kill -STOP");
        assert!(status.success(), "kill -STOP {pid} failed");
    }

    /// Kills the server at once (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let log = self.dir.path().join("redis.log");
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1", "--save", ""]);
        if self.tls {
            let dir = self.dir.path();
            command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(dir.join(super::redis_tls::CERT_FILE))
                .arg("--tls-key-file")
                .arg(dir.join(super::redis_tls::KEY_FILE))
                .arg("--tls-ca-cert-file")
                .arg(dir.join(super::redis_tls::CA_FILE));
        } else {
            command.args(["--port", &port]);
        }
        command
            .args(["--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot run `redis-server` (is it installed and on PATH?): {e}")
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // This client speaks no TLS: a TLS server is up when it accepts.
            if self.tls && std::net::TcpStream::connect(self.addr()).is_ok() {
                return;
            }
            // Any reply, even -NOAUTH, means it is serving.
            if let Ok(mut raw) = RawRedis::connect(&self.addr())
                && let Ok(reply) = raw.command(&["PING"])
            {
                assert!(
                    matches!(reply, Reply::Simple(_) | Reply::Error(_)),
                    "PING answered {reply:?}"
                );
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("redis-server on port {port} exited with {status}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
