"""Layer 2: pure functions from settings to what the program registers and reports: names and tags, env
vars, the App spec (API shape and the SDK's), the deployment that is priced and the capacity report."""
