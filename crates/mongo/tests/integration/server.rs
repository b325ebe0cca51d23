//! Test servers: SecantusDB per test, or the real mongod named by
//! `TRESOR_TEST_MONGODB_URL` (shared with the other crates' tests).

pub use tresor_testing::mongo::MongoServer as TestServer;
