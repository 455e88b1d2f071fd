//! How a host written in a routing object names a service: Istio's rules,
//! in one place for the reference proxy and every adapter.

/// The service names `host`, written in an object of `namespace`, may stand
/// for, most specific first: the host itself (an FQDN, or a ServiceEntry-style
/// host such as `org.apache.dubbo.samples.basic.api.demoservice`); a short
/// name expanded with the object's namespace to
/// `<short>.<namespace>.svc.cluster.local`, as Istio does; and `<short>.<ns>`
/// expanded to `<short>.<ns>.svc.cluster.local`, as Kubernetes DNS would
/// (Istio itself takes a dotted host as an FQDN).
pub fn candidates(host: &str, namespace: &str) -> Vec<String> {
    let mut out = vec![host.to_owned()];
    match host.split('.').count() {
        1 => out.push(format!("{host}.{namespace}.svc.cluster.local")),
        2 => out.push(format!("{host}.svc.cluster.local")),
        _ => {}
    }
    out
}

/// The DNS names a sidecar's virtual host for `fqdn` answers to, as istiod
/// generates them for a client in `namespace`
/// (`generateAltVirtualHostsForKubernetesService`): the FQDN, its absolute
/// form, and for a `<name>.<ns>.svc.<domain>` service `<name>.<ns>.svc` and
/// `<name>.<ns>`, plus the bare `<name>` when the client shares the namespace.
pub fn virtual_host_domains(fqdn: &str, namespace: &str) -> Vec<String> {
    let mut out = vec![fqdn.to_owned(), format!("{fqdn}.")];
    let labels: Vec<&str> = fqdn.split('.').collect();
    if let [name, ns, "svc", ..] = labels.as_slice() {
        out.push(format!("{name}.{ns}.svc"));
        out.push(format!("{name}.{ns}"));
        if *ns == namespace {
            out.push((*name).to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_with_the_namespace() {
        assert_eq!(
            candidates("reviews", "bookinfo"),
            ["reviews", "reviews.bookinfo.svc.cluster.local"]
        );
        assert_eq!(candidates("a.b", "x"), ["a.b", "a.b.svc.cluster.local"]);
        assert_eq!(candidates("a.b.c", "x"), ["a.b.c"]);
    }

    #[test]
    fn virtual_hosts_answer_to_istios_names() {
        assert_eq!(
            virtual_host_domains("echo.default.svc.cluster.local", "default"),
            [
                "echo.default.svc.cluster.local",
                "echo.default.svc.cluster.local.",
                "echo.default.svc",
                "echo.default",
                "echo"
            ]
        );
        assert_eq!(
            virtual_host_domains("echo.default.svc.cluster.local", "other").len(),
            4
        );
        assert_eq!(
            virtual_host_domains("demo.api", "x"),
            ["demo.api", "demo.api."]
        );
    }
}
