//! Signals that stop a run: the first SIGINT, SIGTERM or SIGHUP stops starting calls and
//! drains those in flight (`Halt::Drain`); a second signal of any kind abandons them
//! (`Halt::Now`). Either way the run goes on to write its report and tear down what it
//! started; the exit status names the first signal (128 + its number).

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use workers::Halt;

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopping {
    Interrupt,
    Terminate,
    HangUp,
}

impl Stopping {
    /// 128 + the signal's number, as shells report a death by that signal.
    pub fn exit_code(self) -> u8 {
        match self {
            Stopping::Interrupt => 130,
            Stopping::Terminate => 143,
            Stopping::HangUp => 129,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stopping::Interrupt => "SIGINT",
            Stopping::Terminate => "SIGTERM",
            Stopping::HangUp => "SIGHUP",
        }
    }
}

/// The stop signals of this process, from the moment `listen` is called.
#[derive(Clone)]
pub struct Signals {
    halt: watch::Receiver<Halt>,
    first: Arc<Mutex<Option<Stopping>>>,
}

impl Signals {
    /// Take over SIGINT, SIGTERM and SIGHUP; `drain_s` is only for the message.
    pub fn listen(drain_s: f64) -> anyhow::Result<Signals> {
        let (tx, halt) = watch::channel(Halt::Go);
        let first = Arc::new(Mutex::new(None));
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut hangup = signal(SignalKind::hangup())?;
        let seen = first.clone();
        tokio::spawn(async move {
            loop {
                let which = tokio::select! {
                    Some(()) = interrupt.recv() => Stopping::Interrupt,
                    Some(()) = terminate.recv() => Stopping::Terminate,
                    Some(()) = hangup.recv() => Stopping::HangUp,
                    else => return,
                };
                let first_time = {
                    let mut first = seen.lock().unwrap_or_else(|p| p.into_inner());
                    let empty = first.is_none();
                    first.get_or_insert(which);
                    empty
                };
                if first_time {
                    eprintln!(
                        "\n{}: stopping; waiting up to {drain_s:.0}s for calls in flight (signal again to stop at once)",
                        which.name()
                    );
                    let _ = tx.send(Halt::Drain);
                } else {
                    eprintln!("\n{}: stopping now; writing the report and cleaning up", which.name());
                    let _ = tx.send(Halt::Now);
                }
            }
        });
        Ok(Signals { halt, first })
    }

    /// What the engine and the fleet watch.
    pub fn halt(&self) -> watch::Receiver<Halt> {
        self.halt.clone()
    }

    /// The first stop signal, if one came.
    pub fn first(&self) -> Option<Stopping> {
        *self.first.lock().unwrap_or_else(|p| p.into_inner())
    }
}
