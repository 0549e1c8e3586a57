"""What a prompt remembers of a user: whose items (`levels`: user, persona, global) and
in what form (`summaries`: a summary of the profile, or the raw items)."""
