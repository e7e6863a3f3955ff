"""PSC's OpenID Connect surface: Authlib's machinery with PSC's paths, rules and shapes."""
