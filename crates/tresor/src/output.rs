//! Human output: sizes, aligned tables, and progress bars on a terminal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tresor_core::TableName;
use tresor_ops::Progress;

/// The first error met writing standard output, other than a reader that
/// went away.
static WRITE_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Writes `args` and a newline to standard output (what `outln!` does).
/// A reader that went away (`tresor snapshots | head -1`) is no error: the
/// command goes on to its end, as it would have, and what it prints goes
/// nowhere. Any other failure (a full disk behind a redirection) is kept
/// for [`write_failure`], and the command goes on too: a restore is never
/// cut short by its own report.
pub fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        failed(&e);
    }
}

/// Keeps a failure to write standard output, unless the reader went away.
pub fn failed(e: &std::io::Error) {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        let _ = WRITE_FAILURE.set(e.to_string());
    }
}

/// Why standard output could not be written, if it could not (the reader
/// going away aside).
pub fn write_failure() -> Option<&'static str> {
    WRITE_FAILURE.get().map(String::as_str)
}

/// `1.2 MiB`.
pub fn bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

/// Prints rows as aligned columns; the first row is the header.
pub fn table(rows: &[Vec<String>]) {
    let Some(first) = rows.first() else { return };
    let mut widths = vec![0usize; first.len()];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    for (n, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                // numbers right-aligned, text left-aligned
                if n > 0 && c.chars().next().is_some_and(|ch| ch.is_ascii_digit()) && i > 0 {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        outln!("{}", line.join("  ").trim_end());
        if n == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            outln!("{}", "-".repeat(total));
        }
    }
}

/// Progress bars, one per table in flight, on stderr.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<TableName, ProgressBar>>,
    status: ProgressBar,
}

impl Bars {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let status = multi.add(ProgressBar::new_spinner());
        status.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        status.enable_steady_tick(Duration::from_millis(120));
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            status,
        }
    }

    pub fn finish(&self) {
        self.status.finish_and_clear();
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn table_started(&self, table: &TableName, rows: Option<u64>) {
        let bar = match rows {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("  {prefix:30!} {bar:30} {pos}/{len} rows {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("  {prefix:30!} {pos} rows {per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_prefix(table.to_string());
        let bar = self.multi.add(bar);
        if let Ok(mut b) = self.bars.lock() {
            b.insert(table.clone(), bar);
        }
    }

    fn rows_done(&self, table: &TableName, rows: u64, _bytes: u64) {
        if let Ok(b) = self.bars.lock()
            && let Some(bar) = b.get(table)
        {
            bar.inc(rows);
        }
    }

    fn table_finished(&self, table: &TableName, rows: u64) {
        if let Ok(mut b) = self.bars.lock()
            && let Some(bar) = b.remove(table)
        {
            bar.set_position(rows);
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn step(&self, message: &str) {
        self.status.set_message(message.to_string());
    }
}
