"""The HTTP edge every job shares: request context, middlewares, input checks, uploads, templates."""
