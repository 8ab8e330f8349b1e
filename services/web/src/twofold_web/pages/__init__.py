"""The pages, one module per flow: sign up, enroll, recovery codes, sign in, account, an app's authorization."""
