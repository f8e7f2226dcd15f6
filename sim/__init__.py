"""The sim toolkit: faithful fakes of Sumsub, Keycloak and SMTP, a programmable network, one
virtual clock and one seed, and a sandbox that runs the whole onboarding stack."""
