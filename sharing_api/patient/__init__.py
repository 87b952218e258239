"""The patient's side of pairwise pseudonyms: derivation from one recovery phrase, the
multi-pseudonym sign-in, and the disclosure a patient gives the regulator."""
