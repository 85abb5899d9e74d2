"""journey-triggers: real-time personalization triggers from customer behaviour, on PyFlink."""

__version__ = "0.1.0"
