"""A card in SoftHSM2, so that real PKCS#11 tools and browsers can use it.

:meth:`SoftHsm.provision` writes a card of the test PKI into a SoftHSM2 token with
CryptoLib CPS's object labels and CKA_IDs (the very objects of the software card,
:func:`idp.card.token.card_objects`), protected by the card's PIN, with its PUK as the
SO PIN. Then ``pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so -O`` lists a
CPS-shaped token, ``pkcs11-tool … --login --sign -m SHA256-RSA-PKCS`` signs with the PIN,
a browser given the module presents the card for TLS client authentication, and
:class:`~idp.card.backend.Pkcs11Backend` logs in through it.

Each :class:`SoftHsm` has its own configuration file and token directory under the
caller's data directory; the system's ``/etc/softhsm/softhsm2.conf`` is never used.

What SoftHSM2 cannot imitate:

- **No PIN retry counter.** A wrong PIN returns ``CKR_PIN_INCORRECT`` forever: no lock
  after 3 tries, no ``CKF_USER_PIN_FINAL_TRY``/``LOCKED`` (only ``COUNT_LOW``, set after
  any failure), so no "tries left" and no PUK unblocking to try; PIN length is 4 to 255.
  The software card does all of that.
- **Fixed strings.** ``C_GetInfo`` says ``SoftHSM``/``Implementation of PKCS11``, not
  ``ANS``/``CPS3 PKCS#11 LINUX``; the token's manufacturer is ``SoftHSM project``, its
  model ``SoftHSM v2``, and its serial number is SoftHSM's own, not the card's (the token
  *label*, ``CPS3 <type> <serial>``, names the card instead). The slot is removable (set
  in our configuration) but not a hardware slot.
- Nothing of the card's hardware: no reader, no removal, no contactless mode.

The same path with a real test card: install CryptoLib CPS (ANS's package, which puts
the module at :data:`CRYPTOLIB_MODULE`), plug a reader and an ANS test card (form F414),
and use ``Pkcs11Backend(CRYPTOLIB_MODULE, token_label)`` with the card's token label
(``pkcs11-tool --module /opt/santesocial/CPS/lib/libcps3_pkcs11_lux.so -L`` shows it).
The backend does what CryptoLib's own users do (certificate by label, key by CKA_ID,
CKM_SHA256_RSA_PKCS), so nothing else changes; the card's certificate then chains to
ANS's real TEST IGC-Santé, not to this mock's, which a mock login must be told to trust.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from idp.card.backend import Pkcs11Backend
from idp.card.pki import CardMaterial, der_integer
from idp.card.token import CardObject, ObjectClass, card_objects, token_label

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
CRYPTOLIB_MODULE = "/opt/santesocial/CPS/lib/libcps3_pkcs11_lux.so"
SOFTHSM_UTIL = "softhsm2-util"


class SoftHsmError(RuntimeError):
    """SoftHSM2 is missing or refused an operation; the message says which and why."""


class SoftHsm:
    """A SoftHSM2 token directory of our own, under ``data_dir``.

    SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised, and python-pkcs11
    initialises a module once per process: :meth:`backend` and :meth:`provision` point
    the process's environment at this configuration and re-initialise the module when
    another one was in use, so one configuration is active per process at a time.
    """

    def __init__(self, data_dir: str | Path, module: str = SOFTHSM_MODULE) -> None:
        self.data_dir = Path(data_dir)
        self.module = module
        self.token_dir = self.data_dir / "tokens"
        self.conf = self.data_dir / "softhsm2.conf"
        self.token_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            f"directories.tokendir = {self.token_dir.resolve()}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = true\n",  # as a card reader's slot is
            encoding="utf-8",
        )

    @property
    def env(self) -> dict[str, str]:
        """An environment for tools (``pkcs11-tool``, ``softhsm2-util``) to see these tokens."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf.resolve())}

    def provision(self, card: CardMaterial, pin: str, puk: str) -> str:
        """Write ``card`` as a new token (replacing one of the same label); its label."""
        label = token_label(card)
        if label in self._labels():
            self._util("--delete-token", "--token", label)
        self._util("--init-token", "--free", "--label", label, "--so-pin", puk, "--pin", pin)
        lib = self._library(reinitialize=True)  # a token made by another process
        with lib.get_token(token_label=label).open(rw=True, user_pin=pin) as session:
            for obj in card_objects(card):
                session.create_object(_attributes(obj))
        return label

    def backend(self, label: str) -> Pkcs11Backend:
        """The token labelled ``label`` (see :meth:`provision`) behind the card interface.

        SoftHSM2 lists tokens as they were at initialisation: one provisioned since by
        another process (``psc-mock card provision-softhsm``) is found by initialising
        the module again, which is only done then, as it ends the module's open sessions.
        """
        lib = self._library(reinitialize=False)
        if not any(token.label == label for token in lib.get_tokens()):
            lib.reinitialize()
        # SoftHSM2 sets USER_PIN_COUNT_LOW after any wrong PIN but never counts down.
        return Pkcs11Backend(self.module, label, pin_tries=None)

    def _library(self, *, reinitialize: bool) -> Any:  # python-pkcs11's lib
        import pkcs11

        conf = str(self.conf.resolve())
        changed = os.environ.get("SOFTHSM2_CONF") != conf
        os.environ["SOFTHSM2_CONF"] = conf
        lib = pkcs11.lib(self.module)
        if changed or reinitialize:
            lib.reinitialize()
        return lib

    def _labels(self) -> list[str]:
        return [
            line.split(":", 1)[1].strip()
            for line in self._util("--show-slots").splitlines()
            if line.strip().startswith("Label:")
        ]

    def _util(self, *args: str) -> str:
        try:
            done = subprocess.run(
                [SOFTHSM_UTIL, "--module", self.module, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError as exc:
            raise SoftHsmError(
                f"{SOFTHSM_UTIL} not found: install SoftHSM2 (Debian: apt-get install softhsm2)"
            ) from exc
        if done.returncode != 0:
            command = " ".join(args[:1])
            raise SoftHsmError(f"{SOFTHSM_UTIL} {command}: {done.stderr.strip() or done.stdout}")
        return done.stdout


def _attributes(obj: CardObject) -> dict[Any, Any]:
    """The PKCS#11 template of one card object; private keys sign only, never leave."""
    from pkcs11 import Attribute, CertificateType, KeyType, MechanismFlag
    from pkcs11 import ObjectClass as Pkcs11Class
    from pkcs11.util.rsa import decode_rsa_private_key

    common = {
        Attribute.CLASS: Pkcs11Class(obj.object_class),
        Attribute.TOKEN: True,
        Attribute.PRIVATE: obj.private,
        Attribute.LABEL: obj.label,
    }
    if obj.object_class is ObjectClass.DATA:
        return {
            **common,
            Attribute.APPLICATION: obj.application,
            Attribute.VALUE: obj.value,
            Attribute.MODIFIABLE: False,
        }
    common[Attribute.ID] = obj.id
    if obj.object_class is ObjectClass.CERTIFICATE:
        certificate = x509.load_der_x509_certificate(obj.value)
        return {
            **common,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.SUBJECT: certificate.subject.public_bytes(),
            Attribute.ISSUER: certificate.issuer.public_bytes(),
            Attribute.SERIAL_NUMBER: der_integer(certificate.serial_number),
            Attribute.VALUE: obj.value,
        }
    if isinstance(obj.key, rsa.RSAPublicKey):
        numbers = obj.key.public_numbers()
        return {
            **common,
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
            Attribute.PUBLIC_EXPONENT: numbers.e.to_bytes(3, "big"),
            Attribute.VERIFY: True,
            Attribute.WRAP: False,
        }
    assert isinstance(obj.key, rsa.RSAPrivateKey)
    der = obj.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return {
        **decode_rsa_private_key(der, MechanismFlag.SIGN),
        **common,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
    }
