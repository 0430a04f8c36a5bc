//! Tests' stores that get between the code under test and a real store:
//! an [`Intercept`] says what it changes (a failure injected, a call
//! counted, an interleaving forced), and [`Intercepted`] forwards all else
//! to the store inside, its layout included.

use std::sync::Arc;

use async_trait::async_trait;

use super::retry::Attempt;
use super::{Item, Key, Layout, LayoutUse, Page, Query, Store, StoreError, WriteOp};

/// What an intercepting store does instead of forwarding; each method is
/// given the store inside and, by default, forwards to it.
#[async_trait]
pub trait Intercept: Send + Sync + 'static {
    async fn exist_before_write(&self, inner: &dyn Store, keys: &[Key]) -> Result<Vec<bool>, StoreError> {
        inner.exist_before_write(keys).await
    }

    async fn read_before_write(
        &self,
        inner: &dyn Store,
        keys: &[Key],
    ) -> Result<Vec<Option<Item>>, StoreError> {
        inner.read_before_write(keys).await
    }

    async fn transact(&self, inner: &dyn Store, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        inner.transact(writes).await
    }

    /// One attempt, by default through [`Intercept::transact`] (as
    /// [`Store::transact_attempt`]'s default goes through `transact`), so
    /// that what an intercept does to transactions it does to attempts.
    async fn transact_attempt(&self, inner: &dyn Store, writes: Vec<WriteOp>) -> Attempt<()> {
        Attempt::Done(self.transact(inner, writes).await)
    }

    fn max_transaction_writes(&self, inner: &dyn Store) -> usize {
        inner.max_transaction_writes()
    }
}

/// `inner`, with `intercept` in front of it.
pub struct Intercepted<I> {
    pub inner: Arc<dyn Store>,
    pub intercept: I,
}

impl<I: Intercept> Intercepted<I> {
    pub fn new(inner: Arc<dyn Store>, intercept: I) -> Self {
        Self { inner, intercept }
    }
}

#[async_trait]
impl<I: Intercept> Store for Intercepted<I> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.batch_get(keys).await
    }

    async fn exist_before_write(&self, keys: &[Key]) -> Result<Vec<bool>, StoreError> {
        self.intercept.exist_before_write(self.inner.as_ref(), keys).await
    }

    async fn read_before_write(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.intercept.read_before_write(self.inner.as_ref(), keys).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        self.intercept.transact(self.inner.as_ref(), writes).await
    }

    async fn transact_attempt(&self, writes: Vec<WriteOp>) -> Attempt<()> {
        self.intercept.transact_attempt(self.inner.as_ref(), writes).await
    }

    fn max_transaction_writes(&self) -> usize {
        self.intercept.max_transaction_writes(self.inner.as_ref())
    }

    fn layout(&self) -> Layout {
        self.inner.layout()
    }

    async fn settle_layout(&self, usage: LayoutUse) -> Result<(), StoreError> {
        self.inner.settle_layout(usage).await
    }
}
