"""Contacts: a tenant's people with their channel addresses and attributes, the suppression
list (opt-outs), opt-out keywords, and the WhatsApp customer-care window.

Below providers and messaging: it imports only tenants and core; messaging resolves contact
recipients and applies suppressions and windows by calling contacts.services."""
