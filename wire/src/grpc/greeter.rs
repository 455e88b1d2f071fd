//! The sample service of the dubbo-go Triple walkthrough, which its Istio
//! demo routes by version: `Greeter.SayHello(HelloRequest{name})` answers
//! `User{name: "Hello <name>", id: <version>}`, as dubbo-go-samples'
//! `GreeterServerImpl` does (its `id` is `v1.0.0` on v1, `v2.0.0` on v2).
//!
//! ```proto
//! service Greeter { rpc SayHello (HelloRequest) returns (User) {} }
//! message HelloRequest { string name = 1; }
//! message User { string name = 1; string id = 2; int32 age = 3; }
//! ```

/// The service name the fleet's Greeter answers under by default.
pub const SERVICE: &str = "org.apache.dubbogo.samples.api.Greeter";
/// Its unary method.
pub const METHOD: &str = "SayHello";
/// The name a call sends when the scenario gives none.
pub const DEFAULT_NAME: &str = "laurence";

/// `HelloRequest`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct HelloRequest {
    /// Who to greet.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `User`, the answer.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct User {
    /// The greeting: `Hello <name>`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The serving version, as the sample spells it (`v1.0.0`).
    #[prost(string, tag = "2")]
    pub id: String,
    /// Unused by the sample; kept for wire compatibility.
    #[prost(int32, tag = "3")]
    pub age: i32,
}

/// The `id` a version answers with: a `vN` label becomes `vN.0.0`, as the
/// sample's versions are named; any other label is its own id.
pub fn version_id(version: &str) -> String {
    let numbered = version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if numbered {
        format!("{version}.0.0")
    } else {
        version.to_owned()
    }
}
