//! A JSON payload whose request side takes only what its schema says.
//!
//! poem-openapi's own `Json` reads a JSON number or boolean where the schema says string
//! (`{"code": 0}` becomes the code `"0"`), so the server accepted bodies the published spec
//! calls invalid. [`Json`] is the same payload for responses, and for requests it first checks
//! the body's JSON types against the schema of `T` (strings must be strings, at any depth),
//! answering 400 naming the field otherwise.

use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions,
    error::{ContentTypeError, ParseRequestPayloadError},
    payload::{ParsePayload, Payload},
    registry::{MetaMediaType, MetaRequest, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, ToJSON, Type},
};
use serde_json::Value;
use std::ops::{Deref, DerefMut};

/// A JSON payload (request or response); see the module docs for how it differs from
/// poem-openapi's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Type> Payload for Json<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        <poem_openapi::payload::Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for Json<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value = if data.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&data).map_err(|err| ParseRequestPayloadError { reason: err.to_string() })?
        };
        let mut registry = Registry::new();
        T::register(&mut registry);
        check_types(&value, &T::schema_ref(), &registry, "body")
            .map_err(|reason| ParseRequestPayloadError { reason })?;
        let value =
            T::parse_from_json(Some(value)).map_err(|err| ParseRequestPayloadError { reason: err.into_message() })?;
        Ok(Json(value))
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for Json<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: <Self as ParsePayload>::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if <Self as Payload>::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported { content_type: content_type.to_owned() }.into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

impl<T: ToJSON> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        poem::web::Json(self.0.to_json()).into_response()
    }
}

impl<T: ToJSON> ApiResponse for Json<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Self as Payload>::CONTENT_TYPE,
                    schema: <Self as Payload>::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// `Err(reason)` when `value` holds a number or boolean where `schema` says string, or a `null`
/// for a property the schema does not call nullable (poem-openapi would take it as absent and
/// use the default), at `at`, a path like `body.lines[0].sku_code`. Everything else is left to
/// the type's own parsing.
fn check_types(value: &Value, schema: &MetaSchemaRef, registry: &Registry, at: &str) -> Result<(), String> {
    let schema: &MetaSchema = match schema {
        MetaSchemaRef::Inline(s) => s,
        MetaSchemaRef::Reference(name) => match registry.schemas.get(name) {
            Some(s) => s,
            None => return Ok(()),
        },
    };
    for part in &schema.all_of {
        check_types(value, part, registry, at)?;
    }
    // A union with a discriminator (`oneOf`): the variant the discriminator names.
    if let (Some(d), Value::Object(fields)) = (&schema.discriminator, value)
        && let Some(Value::String(tag)) = fields.get(d.property_name)
        && let Some((_, target)) = d.mapping.iter().find(|(name, _)| name == tag)
    {
        let name = target.trim_start_matches("#/components/schemas/").to_owned();
        check_types(value, &MetaSchemaRef::Reference(name), registry, at)?;
    }
    match value {
        Value::Number(_) | Value::Bool(_) if schema.ty == "string" => Err(format!("`{at}` must be a string")),
        Value::Object(fields) => {
            for (name, prop) in &schema.properties {
                match fields.get(*name) {
                    Some(Value::Null) if !nullable(prop, registry) => {
                        return Err(format!("`{at}.{name}` must not be null"));
                    }
                    Some(v) => check_types(v, prop, registry, &format!("{at}.{name}"))?,
                    None => {}
                }
            }
            if let Some(extra) = &schema.additional_properties {
                for (name, v) in fields {
                    if !schema.properties.iter().any(|(p, _)| p == name) {
                        check_types(v, extra, registry, &format!("{at}.{name}"))?;
                    }
                }
            }
            Ok(())
        }
        Value::Array(items) => match &schema.items {
            Some(item) => {
                items.iter().enumerate().try_for_each(|(i, v)| check_types(v, item, registry, &format!("{at}[{i}]")))
            }
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Whether the schema of a property allows `null`.
fn nullable(schema: &MetaSchemaRef, registry: &Registry) -> bool {
    match schema {
        MetaSchemaRef::Inline(s) => s.nullable,
        MetaSchemaRef::Reference(name) => registry.schemas.get(name).is_none_or(|s| s.nullable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Object;

    #[derive(Debug, Object)]
    struct Line {
        sku_code: String,
        quantity: i64,
    }

    #[derive(Debug, Object)]
    struct Body {
        #[oai(validator(min_length = 1))]
        code: String,
        #[oai(nullable)]
        name: Option<String>,
        #[oai(default)]
        count: i64,
        lines: Vec<Line>,
        tags: std::collections::HashMap<String, String>,
    }

    fn check(v: Value) -> Result<(), String> {
        let mut registry = Registry::new();
        Body::register(&mut registry);
        check_types(&v, &Body::schema_ref(), &registry, "body")
    }

    #[test]
    fn strings_must_be_strings_at_any_depth() {
        let ok = serde_json::json!({"code": "A", "name": null, "lines": [{"sku_code": "X", "quantity": 1}], "tags": {"a": "b"}});
        assert_eq!(check(ok), Ok(()));
        assert_eq!(
            check(serde_json::json!({"code": 0, "lines": [], "tags": {}})),
            Err("`body.code` must be a string".into())
        );
        assert_eq!(
            check(serde_json::json!({"code": "A", "name": true, "lines": [], "tags": {}})),
            Err("`body.name` must be a string".into())
        );
        let deep = serde_json::json!({"code": "A", "lines": [{"sku_code": 7, "quantity": 1}], "tags": {}});
        assert_eq!(check(deep), Err("`body.lines[0].sku_code` must be a string".into()));
        assert_eq!(
            check(serde_json::json!({"code": "A", "lines": [], "tags": {"a": 1}})),
            Err("`body.tags.a` must be a string".into())
        );
    }

    #[test]
    fn null_only_where_the_schema_says_nullable() {
        assert_eq!(check(serde_json::json!({"code": "A", "name": null, "lines": [], "tags": {}})), Ok(()));
        let defaulted = serde_json::json!({"code": "A", "count": null, "lines": [], "tags": {}});
        assert_eq!(check(defaulted), Err("`body.count` must not be null".into()));
        let required = serde_json::json!({"code": null, "lines": [], "tags": {}});
        assert_eq!(check(required), Err("`body.code` must not be null".into()));
    }
}
