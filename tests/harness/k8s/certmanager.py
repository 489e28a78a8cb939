"""cert-manager's controller for the test Kubernetes API: what cert-manager (v1.18) does with cert-manager.io/v1
Certificates, Issuers and ClusterIssuers, run by controller.Controller on every pass under the emulator's lock.

- An Issuer/ClusterIssuer with ``spec.selfSigned: {}`` or ``spec.ca.secretName`` (a kubernetes.io/tls Secret with
  the CA, in the Issuer's namespace or, for a ClusterIssuer, in ``cert-manager``) turns Ready (``IsReady``); any
  other kind (``acme``, ``vault``, ...) stays not Ready: this API reaches no ACME server.
- A Certificate is issued when its Secret (``spec.secretName``) is missing (Issuing ``DoesNotExist``, "Issuing
  certificate as Secret does not exist"), holds no parsable certificate (``InvalidCertificate``), when its
  ``status.renewalTime`` has passed (``Renewing``), or when someone set the ``Issuing`` condition (``cmctl renew``:
  ``ManuallyTriggered``, written through the status subresource). Issuance needs a Ready issuer; until there is
  one the Issuing condition stays and the Secret is untouched.
- Issuing writes the Secret (type kubernetes.io/tls, ``tls.crt``, ``tls.key``, ``ca.crt``, the
  ``cert-manager.io/*`` annotations), an X.509 certificate for ``spec.commonName``/``spec.dnsNames`` valid for
  ``spec.duration`` (default 2160h), signed by the issuer; a new private key unless
  ``spec.privateKey.rotationPolicy: Never``. Then the status: ``revision`` + 1, ``notBefore``, ``notAfter``,
  ``renewalTime`` (``notAfter - renewBefore``, default a third of the duration), Ready True ("Certificate is up to
  date and has not expired") and the Issuing condition removed.
- A Certificate whose Secret already holds a certificate (seeded, or issued earlier) is not re-issued: its status
  is read from that certificate (``revision`` 1 when it had none), as cert-manager adopts an existing Secret;
  an expired one is Ready False (``Expired``).

Not done: CertificateRequests/Orders as objects, ACME, key usages, ``spec.secretTemplate``, the Secret's
``cert-manager.io/certificate-name`` check against another Certificate owning it.
"""

import base64
import copy
import datetime
import re
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .emulator import now_iso

GROUP = "cert-manager.io"
CLUSTER_RESOURCE_NAMESPACE = "cert-manager"
DEFAULT_DURATION = datetime.timedelta(hours=2160)
READY_MESSAGE = "Certificate is up to date and has not expired"
DURATION_RX = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


def parse_duration(text):
    """A Go duration as cert-manager takes it (``2160h``, ``1h30m``)."""
    if not text:
        return None
    total, pos = 0.0, 0
    for match in DURATION_RX.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * {"h": 3600, "m": 60, "s": 1}[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError("invalid duration %r" % text)
    return datetime.timedelta(seconds=total)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_certificate(key, common_name, dns_names, not_before, not_after, issuer_key=None, issuer_cert=None, is_ca=False):
    """An X.509 certificate: self-signed when no issuer is given."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]) if common_name else x509.Name([])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
    cert = builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM)


def tls_secret(namespace, name, cert_pem, key_pem, ca_pem=b""):
    """A kubernetes.io/tls Secret object (for scenarios that seed an existing certificate)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(), "tls.key": base64.b64encode(key_pem).decode(),
                     "ca.crt": base64.b64encode(ca_pem).decode()}}


def _b64(secret, key):
    try:
        return base64.b64decode((secret.get("data") or {}).get(key) or "")
    except (ValueError, TypeError):
        return b""


def _load_cert(pem):
    try:
        return x509.load_pem_x509_certificate(pem) if pem else None
    except ValueError:
        return None


def _cond(status, ctype):
    for cond in status.get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def _set(status, ctype, value, reason, message, generation):
    conditions = status.setdefault("conditions", [])
    cond = _cond(status, ctype)
    if cond is None:
        cond = {"type": ctype}
        conditions.append(cond)
    if cond.get("status") != value:
        cond["lastTransitionTime"] = now_iso()
    cond.update(status=value, reason=reason, message=message, observedGeneration=generation)


def _drop(status, ctype):
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != ctype]


class CertManager:
    """See the module docstring. ``sync(now)`` is one pass over issuers and certificates."""

    def __init__(self, emu):
        self.emu = emu

    def _put_status(self, plural, obj, status):
        if status != obj.get("status"):
            new = copy.deepcopy(obj)
            new["status"] = status
            self.emu.put(GROUP, plural, new)

    def sync(self, now=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        for plural in ("issuers", "clusterissuers"):
            for issuer in self.emu.items(GROUP, plural):
                self.sync_issuer(plural, issuer)
        for crt in self.emu.items(GROUP, "certificates"):
            self.sync_certificate(crt, now)

    # ---- issuers ------------------------------------------------------------------------------

    def _issuer_ca(self, plural, issuer):
        """(key, cert) of a CA issuer, None for selfSigned; raises LookupError with the reason it cannot sign."""
        spec = issuer.get("spec") or {}
        if "selfSigned" in spec:
            return None
        if "ca" in spec:
            namespace = issuer["metadata"].get("namespace") or CLUSTER_RESOURCE_NAMESPACE
            name = (spec["ca"] or {}).get("secretName")
            secret = self.emu.get("", "secrets", namespace, name) if name else None
            if secret is None:
                raise LookupError(("ErrGetKeyPair", "Error getting keypair for CA issuer: secrets \"%s\" not found" % name))
            cert = _load_cert(_b64(secret, "tls.crt"))
            try:
                key = serialization.load_pem_private_key(_b64(secret, "tls.key"), password=None)
            except (ValueError, TypeError):
                key = None
            if cert is None or key is None:
                raise LookupError(("ErrInvalidKeyPair", "Error getting keypair for CA issuer: the Secret holds no key pair"))
            return key, cert
        raise LookupError(("NotImplemented", "this test API's cert-manager signs with selfSigned and ca issuers only"))

    def sync_issuer(self, plural, issuer):
        status = copy.deepcopy(issuer.get("status") or {})
        generation = issuer["metadata"].get("generation", 1)
        try:
            self._issuer_ca(plural, issuer)
            kind = "selfSigned" if "selfSigned" in (issuer.get("spec") or {}) else "ca"
            _set(status, "Ready", "True", "IsReady", "" if kind == "selfSigned" else "Signing CA verified", generation)
        except LookupError as exc:
            reason, message = exc.args[0]
            _set(status, "Ready", "False", reason, message, generation)
        self._put_status(plural, issuer, status)

    def issuer_of(self, crt):
        ref = (crt.get("spec") or {}).get("issuerRef") or {}
        if ref.get("kind") == "ClusterIssuer":
            return "clusterissuers", self.emu.get(GROUP, "clusterissuers", None, ref.get("name"))
        return "issuers", self.emu.get(GROUP, "issuers", crt["metadata"]["namespace"], ref.get("name"))

    # ---- certificates -------------------------------------------------------------------------

    def sync_certificate(self, crt, now):  # pylint: disable=too-many-locals
        spec = crt.get("spec") or {}
        meta = crt["metadata"]
        generation = meta.get("generation", 1)
        status = copy.deepcopy(crt.get("status") or {})
        secret = self.emu.get("", "secrets", meta["namespace"], spec.get("secretName")) if spec.get("secretName") else None
        cert = _load_cert(_b64(secret, "tls.crt")) if secret is not None else None
        issuing = _cond(status, "Issuing")
        if secret is None:
            trigger = ("DoesNotExist", "Issuing certificate as Secret does not exist")
        elif cert is None:
            trigger = ("InvalidCertificate", "Issuing certificate as Secret contains an invalid certificate")
        elif status.get("renewalTime") and status["renewalTime"] <= iso(now):
            trigger = ("Renewing", "Renewing certificate as renewal was scheduled at %s" % status["renewalTime"])
        else:
            trigger = None
        if trigger is None and issuing is not None and issuing.get("status") == "True":
            trigger = (issuing.get("reason"), issuing.get("message"))
        if trigger is None:
            self._adopt(crt, status, cert, now, generation)
            return
        if issuing is None or issuing.get("status") != "True":
            _set(status, "Issuing", "True", trigger[0], trigger[1], generation)
        if secret is None or cert is None:
            _set(status, "Ready", "False", trigger[0], trigger[1], generation)
        plural, issuer = self.issuer_of(crt)
        ready = issuer is not None and ((_cond(issuer.get("status") or {}, "Ready") or {}).get("status") == "True")
        if not ready:
            self._put_status("certificates", crt, status)
            return
        self._issue(crt, status, plural, issuer, secret, now, generation)

    def _durations(self, spec):
        try:
            duration = parse_duration(spec.get("duration")) or DEFAULT_DURATION
            renew_before = parse_duration(spec.get("renewBefore"))
        except ValueError:
            duration, renew_before = DEFAULT_DURATION, None
        if renew_before is None or renew_before >= duration:
            renew_before = duration / 3
        return duration, renew_before

    def _adopt(self, crt, status, cert, now, generation):
        """The status an existing, valid Secret gives (cert-manager keeps a certificate that is not due)."""
        dummy, renew_before = self._durations(crt.get("spec") or {})
        not_after = cert.not_valid_after_utc
        want = {"notBefore": iso(cert.not_valid_before_utc), "notAfter": iso(not_after),
                "renewalTime": iso(not_after - renew_before)}
        status.update(want)
        status.setdefault("revision", 1)
        if not_after <= now:
            _set(status, "Ready", "False", "Expired", "Certificate expired on %s" % iso(not_after), generation)
        else:
            _set(status, "Ready", "True", "Ready", READY_MESSAGE, generation)
        self._put_status("certificates", crt, status)

    def _issue(self, crt, status, plural, issuer, secret, now, generation):  # pylint: disable=too-many-arguments,too-many-positional-arguments
        spec = crt.get("spec") or {}
        meta = crt["metadata"]
        duration, renew_before = self._durations(spec)
        key = None
        if secret is not None and (spec.get("privateKey") or {}).get("rotationPolicy") == "Never":
            try:
                key = serialization.load_pem_private_key(_b64(secret, "tls.key"), password=None)
            except (ValueError, TypeError):
                key = None
        key = key or new_key()
        ca = self._issuer_ca(plural, issuer)
        not_before = now.replace(microsecond=0)
        not_after = not_before + duration
        dns_names = list(spec.get("dnsNames") or [])
        common_name = spec.get("commonName") or ""
        cert_pem = make_certificate(key, common_name, dns_names, not_before, not_after,
                                    issuer_key=ca[0] if ca else None, issuer_cert=ca[1] if ca else None)
        ca_pem = ca[1].public_bytes(serialization.Encoding.PEM) if ca else cert_pem
        body = copy.deepcopy(secret) if secret is not None else tls_secret(meta["namespace"], spec["secretName"], b"", b"")
        body["type"] = "kubernetes.io/tls"
        body.setdefault("data", {}).update({"tls.crt": base64.b64encode(cert_pem).decode(),
                                            "tls.key": base64.b64encode(pem_key(key)).decode(),
                                            "ca.crt": base64.b64encode(ca_pem).decode()})
        body["metadata"].setdefault("annotations", {}).update({
            "cert-manager.io/certificate-name": meta["name"], "cert-manager.io/issuer-name": issuer["metadata"]["name"],
            "cert-manager.io/issuer-kind": issuer["kind"], "cert-manager.io/issuer-group": GROUP,
            "cert-manager.io/common-name": common_name, "cert-manager.io/alt-names": ",".join(dns_names)})
        body["metadata"].setdefault("labels", {})["controller.cert-manager.io/fao"] = "true"
        if secret is None:
            body["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now_iso())
        self.emu.put("", "secrets", body)
        status.update(notBefore=iso(not_before), notAfter=iso(not_after), renewalTime=iso(not_after - renew_before),
                      revision=int(status.get("revision") or 0) + 1)
        _drop(status, "Issuing")
        _set(status, "Ready", "True", "Ready", READY_MESSAGE, generation)
        self._put_status("certificates", crt, status)
