"""The customer-onboarding service: HTTP API, webhook intake and SAQ workers."""
