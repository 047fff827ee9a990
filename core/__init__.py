"""The shared vocabulary below every app: status names, the API's error document, bulk SQL,
URL safety, the pooled HTTP session, SMS encoding. It imports no app of the project."""
