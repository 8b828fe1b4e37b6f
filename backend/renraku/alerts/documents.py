"""An alert document's bytes to a ParsedAlert, whichever format its root's namespace names."""

from __future__ import annotations

from renraku.alerts.cap import CAP_NAMESPACES, parse_cap
from renraku.alerts.jma import JMA_NAMESPACE, parse_jma
from renraku.alerts.parsed import ParsedAlert
from renraku.alerts.xml_safety import Rejected, local_name, namespace_of, parse_xml


def parse_document(data: bytes) -> ParsedAlert:
    """Rejected unless the document is safe XML whose root is a CAP 1.1/1.2 alert or a JMA report.

    The namespace decides, never the prefix: `cap:alert` in the CAP namespace is CAP, `alert` in
    any other namespace is foreign."""
    root = parse_xml(data)
    namespace, name = namespace_of(root.tag), local_name(root.tag)
    if namespace in CAP_NAMESPACES:
        if name != "alert":
            raise Rejected(f"<{name}>: the root of a CAP document must be <alert>")
        return parse_cap(root, namespace)
    if namespace == JMA_NAMESPACE:
        if name != "Report":
            raise Rejected(f"<{name}>: the root of a JMA document must be <Report>")
        return parse_jma(root)
    shown = f"namespace '{namespace[:200]}'" if namespace else "no namespace"
    raise Rejected(f"<{name}>: root element in {shown}, not CAP 1.1, CAP 1.2 or JMA XML")
