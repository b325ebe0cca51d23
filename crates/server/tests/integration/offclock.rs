//! An engine for a server on paused tokio time: a driver's own timers
//! (connect, server selection, heartbeats) must run on real time, or the
//! paused clock, jumping ahead whenever the runtime waits, makes them
//! expire at once. Every call into the engine runs on a runtime of its own
//! from a blocking thread; while one runs, tokio does not move the paused
//! clock, so a backup takes no time on the server's clock.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use tresor_core::{
    Connector, DatabaseSchema, EncodedSender, Engine, ReadOptions, RestorePlan, RestoreSummary,
    RowReceiver, RowSender, Source, SourceError, SourceInfo, SourceSnapshot, TableSchema, Target,
    TargetSession, TargetState,
};

/// The runtime engine calls run on, for the whole test process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime on real time")
    })
}

/// Runs `work` on real time and waits for it without letting the paused
/// clock move.
pub async fn on_real_time<T, F>(work: F) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || runtime().block_on(work))
        .await
        .expect("the engine call panicked")
}

/// Lets `ms` milliseconds of real time pass without moving the paused
/// clock: what a test waits with while the server talks to a process
/// outside (a mail server), whose answers the paused clock would not wait
/// for.
pub async fn real_pause(ms: u64) {
    tokio::task::spawn_blocking(move || std::thread::sleep(std::time::Duration::from_millis(ms)))
        .await
        .expect("pause");
}

/// `inner`, each call on real time.
pub struct OffClock(pub Arc<dyn Connector>);

impl Connector for OffClock {
    fn engine(&self) -> Engine {
        self.0.engine()
    }
    fn accepts(&self, url: &str) -> bool {
        self.0.accepts(url)
    }
    fn example_url(&self) -> &'static str {
        self.0.example_url()
    }
    fn default_jobs(&self) -> usize {
        self.0.default_jobs()
    }
    fn source(&self, url: &str) -> Result<Box<dyn Source>, SourceError> {
        let _rt = runtime().enter();
        Ok(Box::new(OffSource(Arc::from(self.0.source(url)?))))
    }
    fn target(&self, url: &str) -> Result<Box<dyn Target>, SourceError> {
        let _rt = runtime().enter();
        Ok(Box::new(OffTarget(Arc::from(self.0.target(url)?))))
    }
    fn identity(&self, url: &str) -> String {
        self.0.identity(url)
    }
    fn read_options(&self) -> &'static [(&'static str, &'static [&'static str])] {
        self.0.read_options()
    }
}

struct OffSource(Arc<dyn Source>);

#[async_trait]
impl Source for OffSource {
    fn engine(&self) -> Engine {
        self.0.engine()
    }
    async fn open(&self, options: &ReadOptions) -> Result<Box<dyn SourceSnapshot>, SourceError> {
        let (inner, options) = (self.0.clone(), options.clone());
        let snap = on_real_time(async move { inner.open(&options).await }).await?;
        Ok(Box::new(OffSnapshot(Some(Arc::new(snap)))))
    }
}

/// Dropped on the real-time runtime, where its driver lives.
fn drop_there<T: Send + 'static>(value: T) {
    runtime().spawn(async move { drop(value) });
}

struct OffSnapshot(Option<Arc<Box<dyn SourceSnapshot>>>);

impl OffSnapshot {
    fn inner(&self) -> &Arc<Box<dyn SourceSnapshot>> {
        self.0.as_ref().expect("an open snapshot")
    }
}

impl Drop for OffSnapshot {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            drop_there(s);
        }
    }
}

#[async_trait]
impl SourceSnapshot for OffSnapshot {
    fn info(&self) -> &SourceInfo {
        self.inner().info()
    }
    fn schema(&self) -> &DatabaseSchema {
        self.inner().schema()
    }
    async fn read_table(&self, table: &TableSchema, rows: RowSender) -> Result<u64, SourceError> {
        let (inner, table) = (self.inner().clone(), table.clone());
        on_real_time(async move { inner.read_table(&table, rows).await }).await
    }
    async fn read_table_encoded(
        &self,
        table: &TableSchema,
        rows: EncodedSender,
    ) -> Result<u64, SourceError> {
        let (inner, table) = (self.inner().clone(), table.clone());
        on_real_time(async move { inner.read_table_encoded(&table, rows).await }).await
    }
    async fn close(mut self: Box<Self>) -> Result<(), SourceError> {
        let inner = self.0.take().expect("an open snapshot");
        on_real_time(async move {
            match Arc::try_unwrap(inner) {
                Ok(snap) => snap.close().await,
                Err(_) => Ok(()),
            }
        })
        .await
    }
}

struct OffTarget(Arc<dyn Target>);

#[async_trait]
impl Target for OffTarget {
    fn engine(&self) -> Engine {
        self.0.engine()
    }
    async fn inspect(&self) -> Result<TargetState, SourceError> {
        let inner = self.0.clone();
        on_real_time(async move { inner.inspect().await }).await
    }
    async fn begin(&self, plan: &RestorePlan) -> Result<Box<dyn TargetSession>, SourceError> {
        let (inner, plan) = (self.0.clone(), plan.clone());
        let session = on_real_time(async move { inner.begin(&plan).await }).await?;
        Ok(Box::new(OffSession(Some(session))))
    }
    async fn drop_database(&self) -> Result<(), SourceError> {
        let inner = self.0.clone();
        on_real_time(async move { inner.drop_database().await }).await
    }
}

struct OffSession(Option<Box<dyn TargetSession>>);

impl Drop for OffSession {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            drop_there(s);
        }
    }
}

#[async_trait]
impl TargetSession for OffSession {
    async fn load_table(
        &mut self,
        table: &TableSchema,
        rows: RowReceiver,
    ) -> Result<u64, SourceError> {
        let mut session = self.0.take().expect("an open session");
        let table = table.clone();
        let (session, result) = on_real_time(async move {
            let r = session.load_table(&table, rows).await;
            (session, r)
        })
        .await;
        self.0 = Some(session);
        result
    }
    async fn commit(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let session = self.0.take().expect("an open session");
        on_real_time(async move { session.commit().await }).await
    }
    async fn rehearse(mut self: Box<Self>) -> Result<RestoreSummary, SourceError> {
        let session = self.0.take().expect("an open session");
        on_real_time(async move { session.rehearse().await }).await
    }
    async fn rollback(mut self: Box<Self>) -> Result<(), SourceError> {
        let session = self.0.take().expect("an open session");
        on_real_time(async move { session.rollback().await }).await
    }
}
