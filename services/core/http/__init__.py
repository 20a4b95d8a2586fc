"""What every HTTP service shares: auth, the error envelope, OpenAPI, security headers, serving."""
