//! The listener: one port for AMQP and the management REST API, told apart by the
//! first bytes a client sends (`AMQP` or an HTTP method).

use crate::broker::Broker;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections until the process ends.
pub async fn run(listener: TcpListener, broker: Arc<Broker>) {
    let sweeper = broker.clone();
    tokio::spawn(async move {
        // Lock expiry, scheduled messages and time to live are checked here.
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            for e in sweeper.entities() {
                e.sweep();
            }
        }
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                crate::log::warn(&format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let broker = broker.clone();
        tokio::spawn(async move {
            if let Err(e) = route(stream, broker).await {
                crate::log::debug(&format!("{peer}: {e}"));
            }
        });
    }
}

async fn route(mut stream: TcpStream, broker: Arc<Broker>) -> std::io::Result<()> {
    let mut head = [0u8; 8];
    // A client that connects and says nothing is dropped after a while.
    tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut head))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no protocol header within 30 s",
            )
        })??;
    if head.starts_with(b"AMQP") {
        crate::connection::serve(stream, head, broker).await;
    } else {
        crate::http::serve(stream, head, broker).await;
    }
    Ok(())
}
