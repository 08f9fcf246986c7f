//! A Service Bus compatible AMQP 1.0 broker for local tests, without Docker.
//!
//! Microsoft's Service Bus SDKs connect to it with a connection string ending in
//! `UseDevelopmentEmulator=true`. See the crate's README for what it does and where it
//! differs from the service.

mod broker;
mod codec;
mod config;
mod connection;
mod frame;
mod http;
mod journal;
mod jwt;
mod log;
mod management;
mod message;
mod sas;
mod server;
mod store;

use std::path::PathBuf;

const USAGE: &str = "usage: servicebus-emulator [--config FILE] [--host HOST] [--port PORT] [--data-dir DIR] [--log LEVEL]

  --config FILE    entities, in the shape of Microsoft's emulator Config.json (default: a built-in
                   one with queue.1, session-queue.1 and topic.1/subscription.1)
  --host HOST      address to listen on (default 127.0.0.1)
  --port PORT      AMQP and the management REST API on one port (default 5673; 0 picks one)
  --data-dir DIR   keep messages in DIR/journal.log across restarts (default: memory only)
  --log LEVEL      error, warn, info (default) or debug; also STRATA_SERVICEBUS_LOG

Connection string: Endpoint=sb://HOST:PORT;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true";

struct Args {
    config: Option<PathBuf>,
    host: String,
    port: u16,
    data_dir: Option<PathBuf>,
    log: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        host: "127.0.0.1".into(),
        port: 5673,
        data_dir: None,
        log: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => args.config = Some(PathBuf::from(value()?)),
            "--host" => args.host = value()?,
            "--port" => {
                let v = value()?;
                args.port = v
                    .parse()
                    .map_err(|_| format!("--port {v:?} is not a port number"))?;
            }
            "--data-dir" => args.data_dir = Some(PathBuf::from(value()?)),
            "--log" => args.log = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn fail(text: &str) -> ! {
    eprintln!("servicebus-emulator: {text}");
    std::process::exit(2);
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| fail(&format!("{e}\n{USAGE}")));
    let level = args
        .log
        .clone()
        .or_else(|| std::env::var("STRATA_SERVICEBUS_LOG").ok());
    if let Some(level) = level {
        log::set_level(&level).unwrap_or_else(|e| fail(&e));
    }
    let ns = match &args.config {
        Some(path) => config::load(path),
        None => config::parse(config::DEFAULT_CONFIG),
    }
    .unwrap_or_else(|e| fail(&e));
    let journal = args.data_dir.as_ref().map(|dir| {
        journal::Journal::open(dir)
            .unwrap_or_else(|e| fail(&format!("--data-dir {}: {e}", dir.display())))
    });
    let broker = broker::Broker::new(&ns, journal).unwrap_or_else(|e| fail(&e));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .unwrap_or_else(|e| {
                fail(&format!(
                    "cannot listen on {}:{}: {e}",
                    args.host, args.port
                ))
            });
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| fail(&e.to_string()));
        log::info(&format!(
            "namespace {} with {} entities; {}",
            broker.name,
            broker.entities().len(),
            match &args.data_dir {
                Some(d) => format!("journal in {}", d.display()),
                None => "in memory".into(),
            }
        ));
        // The readiness line scripts wait for.
        println!("servicebus-emulator listening on {addr}");
        server::run(listener, broker).await;
    });
}
