//! A private Service Bus emulator (this workspace's `servicebus-emulator`)
//! on a free 127.0.0.1 port, with an empty namespace: the tests create
//! their topics and subscriptions through the management API. Killed on
//! drop. The binary is `STRATA_SERVICEBUS_BIN`, else the workspace's
//! target dir (`target/<triple>/debug/` when `CARGO_BUILD_TARGET` is set).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What to do when the binary is missing.
pub const BUILD_HINT: &str = "build it with `cargo build -p strata-servicebus-emulator`, or point STRATA_SERVICEBUS_BIN at it";

/// The policy every test signs with (Microsoft's emulator's well-known one).
pub const KEY_NAME: &str = "RootManageSharedAccessKey";
/// Its key.
pub const KEY: &str = "SAS_KEY_VALUE";

/// The namespace config: no entities, the default policy, Standard's
/// 256 KiB message limit.
const CONFIG: &str = r#"{"UserConfig":{"Namespaces":[{"Name":"sbemulatorns","Queues":[],"Topics":[]}],"Logging":{"Type":"Console"}}}"#;

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("STRATA_SERVICEBUS_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = match std::env::var("CARGO_BUILD_TARGET") {
        Ok(triple) if !triple.is_empty() => target.join(triple).join("debug"),
        _ => target.join("debug"),
    };
    let path = dir.join("servicebus-emulator");
    assert!(
        path.is_file(),
        "no Service Bus emulator at {}: {BUILD_HINT}",
        path.display()
    );
    path
}

/// A running emulator.
pub struct PrivateServiceBus {
    child: Option<Child>,
    port: u16,
    durable: bool,
    dir: tempfile::TempDir,
}

impl PrivateServiceBus {
    /// Starts an emulator (messages in memory) on a free port and waits
    /// until it serves.
    pub fn start() -> Self {
        Self::launch(CONFIG, false)
    }

    /// Starts an emulator (messages in memory) with `config` (Microsoft's
    /// Config.json shape, with this emulator's fields).
    #[allow(dead_code)]
    pub fn start_with(config: &str) -> Self {
        Self::launch(config, false)
    }

    /// Starts an emulator with `config` (Microsoft's Config.json shape)
    /// that keeps messages in a journal, so a restart
    /// ([`restart`](Self::restart)) keeps them. Entities made through the
    /// management API are not kept: name them in `config`.
    #[allow(dead_code)]
    pub fn start_durable(config: &str) -> Self {
        Self::launch(config, true)
    }

    /// Kills it at once (no goodbye to clients).
    #[allow(dead_code)]
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and journal, when durable).
    #[allow(dead_code)]
    pub fn restart(&mut self) {
        self.kill();
        let again = Self::spawn(self.port, self.durable, &self.dir);
        self.child = Some(again.0);
    }

    fn launch(config_json: &str, durable: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the emulator's config");
        let config = dir.path().join("config.json");
        std::fs::write(&config, config_json).expect("write the emulator's config");
        let (child, port) = Self::spawn(0, durable, &dir);
        Self {
            child: Some(child),
            port,
            durable,
            dir,
        }
    }

    /// Runs the binary on `port` (0: any) and returns it with its port once
    /// it says it is listening.
    fn spawn(port: u16, durable: bool, dir: &tempfile::TempDir) -> (Child, u16) {
        let config = dir.path().join("config.json");
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(&config)
            .args(["--port", &port.to_string(), "--log", "warn"]);
        if durable {
            command.arg("--data-dir").arg(dir.path().join("data"));
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the Service Bus emulator ({e}): {BUILD_HINT}"));
        let stdout = child.stdout.take().expect("the emulator's stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("servicebus-emulator listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("the Service Bus emulator did not say it was listening within 15 s");
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the emulator's address has a port");
        (child, port)
    }

    /// The port it serves AMQP and the management API on.
    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection string of its namespace, signed with `key`.
    pub fn connection_string_with_key(&self, key: &str) -> String {
        format!(
            "Endpoint=sb://127.0.0.1:{};SharedAccessKeyName={KEY_NAME};SharedAccessKey={key};\
             UseDevelopmentEmulator=true",
            self.port
        )
    }

    /// The connection string of its namespace.
    pub fn connection_string(&self) -> String {
        self.connection_string_with_key(KEY)
    }
}

impl Drop for PrivateServiceBus {
    fn drop(&mut self) {
        self.kill();
    }
}
