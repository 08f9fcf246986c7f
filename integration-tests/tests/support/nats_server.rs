//! A private `nats-server -js` on a free 127.0.0.1 port with its JetStream
//! store in its own folder under the emulators' home (`localstack/.emulators/nats/`,
//! or `$STRATA_EMULATORS_HOME/nats/`), that a test can kill and restart on the
//! same port and store. Killed on drop, and its folder removed. The machine's
//! shared server is never used.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What to do when the binary is missing.
pub const INSTALL_HINT: &str = "install it with `apt-get install nats-server` (Debian/Ubuntu) \
    or from https://github.com/nats-io/nats-server/releases, or point STRATA_NATS_SERVER at \
    the binary";

/// The `nats-server` binary: `STRATA_NATS_SERVER`, else on PATH, else
/// Debian's /usr/sbin (not on every user's PATH).
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("STRATA_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file());
    match on_path {
        Some(path) => path,
        None if PathBuf::from("/usr/sbin/nats-server").is_file() => "/usr/sbin/nats-server".into(),
        None => panic!("no `nats-server` binary found: {INSTALL_HINT}"),
    }
}

/// A fresh folder for one server's store and log, under the emulators' home,
/// where the other emulators keep their data.
fn store_dir() -> tempfile::TempDir {
    let home = std::env::var_os("STRATA_EMULATORS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../localstack/.emulators")
        });
    let parent = home.join("nats");
    std::fs::create_dir_all(&parent)
        .unwrap_or_else(|err| panic!("cannot create {}: {err}", parent.display()));
    tempfile::Builder::new()
        .prefix("server-")
        .tempdir_in(&parent)
        .unwrap_or_else(|err| panic!("cannot create a store under {}: {err}", parent.display()))
}

/// A `nats-server` child process.
pub struct PrivateNats {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl PrivateNats {
    /// Starts `nats-server -js` with `args` added and waits until it serves.
    #[allow(dead_code)]
    pub fn start(args: &[&str]) -> Self {
        let mut server = Self {
            child: None,
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            dir: store_dir(),
        };
        server.spawn();
        server
    }

    /// `size` servers on 127.0.0.1 routed into one JetStream cluster named
    /// `strata`, server names `n0`, `n1`, …; each has its own store.
    #[allow(dead_code)]
    pub fn start_cluster(size: usize) -> Vec<Self> {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, route)| format!("nats://127.0.0.1:{route}"))
            .collect::<Vec<_>>()
            .join(",");
        ports
            .iter()
            .enumerate()
            .map(|(i, (port, route))| {
                let mut server = Self {
                    child: None,
                    port: *port,
                    args: vec![
                        "-n".into(),
                        format!("n{i}"),
                        "--cluster_name".into(),
                        "strata".into(),
                        "--cluster".into(),
                        format!("nats://127.0.0.1:{route}"),
                        "--routes".into(),
                        routes.clone(),
                    ],
                    dir: store_dir(),
                };
                server.spawn();
                server
            })
            .collect()
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL: no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store.
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let log = self.dir.path().join("nats.log");
        let store = self.dir.path().join("store");
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &port, "-js", "-sd"])
            .arg(&store)
            .arg("-l")
            .arg(&log)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run nats-server ({e}): {INSTALL_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A serving server greets every connection with `INFO {...}`.
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut greeting = [0u8; 4];
                if stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO" {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("nats-server on port {port} exited with {status}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server on port {port} did not serve within 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
