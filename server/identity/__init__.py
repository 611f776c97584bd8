"""Who is calling: professional accounts, web and socket sessions, signed join links, deactivation."""
