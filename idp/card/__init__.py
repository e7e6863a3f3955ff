"""The CPS card in software: a test IGC-Santé PKI, a PKCS#11-faithful token, real modules.

``pki`` makes and checks certificates (TEST authorities, card, organisation and TLS
certificates, CRLs); ``token`` is the software card (slots, PIN/PUK, objects, signing);
``backend`` is the one question card login asks ("with this PIN, sign this challenge")
and its two answerers, the software card and any PKCS#11 module; ``softhsm`` puts a card
into SoftHSM2 for real PKCS#11 tools. Nothing here knows about OIDC or HTTP.
"""
