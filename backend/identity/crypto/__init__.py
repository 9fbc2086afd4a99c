"""Envelope encryption of personal data: AES-256-GCM data keys wrapped by rotating master keys."""
