"""English local authorities with children's social care powers."""

from exchange.authorities.registry import Authority, AuthorityRegistry, load_registry

__all__ = ["Authority", "AuthorityRegistry", "load_registry"]
