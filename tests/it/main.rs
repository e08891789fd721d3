//! The integration tests, as one test binary: each module is a former `tests/*.rs` suite; they share the
//! `support` harness (the real `authgate` binary on loopback) and the third-party `servers`.

mod servers;
mod support;

mod admin;
mod attacks;
mod cli;
mod cli_directories;
mod console;
mod deploy_manifests;
mod directory_aad;
mod directory_ldap;
mod gateway_basic;
mod gateway_basic_limits;
mod gateway_bearer;
mod gateway_direct;
mod gateway_headers;
mod gateway_ops;
mod gateway_paths;
mod gateway_tls;
mod odata;
mod odata_client;
mod odata_rest;
mod odata_sap;
mod oidc_provider;
mod outbound_flow;
mod outbound_microsoft;
mod outbound_oidc;
mod outbound_routes;
mod postgres_tls;
mod replicas;
mod server_hardening;
mod shared_state;
mod store_conformance;
mod workflow;
mod workflow_k2;
mod workflow_openapi;
