"""Twilio adapter."""
