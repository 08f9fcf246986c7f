//! Maps AWS SDK errors onto portable [`ErrorCode`]s, keeping the SDK error as
//! the source and saying what to fix.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use strata_core::{Error, ErrorCode};

/// How to give credentials, for the error when none could be loaded.
const CREDENTIALS_HINT: &str = "give them in the infra config (providers.aws.credentials: \
     access_key_id and secret_access_key, e.g. as {\"$env\": \"NAME\"}), in the environment \
     (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or in a profile of ~/.aws/credentials \
     (AWS_PROFILE); for an emulator or a public bucket, set providers.aws.credentials.anonymous \
     to true";

/// Converts an SDK error. `what` names the call and its resource
/// (e.g. "SQS ReceiveMessage on queue `orders-email`"); `target` says where
/// the request went (e.g. "SQS at http://127.0.0.1:4566").
pub(crate) fn sdk_error<E>(err: SdkError<E, HttpResponse>, what: &str, target: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    // The SDK reports a credential chain that found nothing as a failure to
    // send; "could not reach" would send the user to the endpoint instead.
    if let Some(cause) = credentials_error(&err) {
        let code = match cause {
            CredentialsError::ProviderTimedOut(_) => ErrorCode::Unavailable,
            _ => ErrorCode::PermissionDenied,
        };
        let message = format!(
            "{what}: no AWS credentials could be loaded for {target} ({}); {CREDENTIALS_HINT}",
            causes(cause)
        );
        return Error::new(code, message).with_source(err);
    }
    let (code, message) = match &err {
        SdkError::DispatchFailure(failure) if failure.is_timeout() => (
            ErrorCode::Timeout,
            format!("{what}: connecting to {target} timed out; check the endpoint and the network"),
        ),
        SdkError::DispatchFailure(_) => (
            ErrorCode::Unavailable,
            format!(
                "{what}: could not reach {target} ({}); check providers.aws.endpoint / region \
                 and that the service is running",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::TimeoutError(_) => (
            ErrorCode::Timeout,
            format!("{what}: {target} did not answer in time"),
        ),
        SdkError::ResponseError(_) => (
            ErrorCode::Unavailable,
            format!(
                "{what}: unreadable response from {target}: {}",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::ConstructionFailure(_) => (
            ErrorCode::InvalidArgument,
            format!(
                "{what}: the request could not be built: {}",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let service = context.err();
            let code = classify(service.code(), status);
            let detail = match (service.code(), service.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                (None, Some(m)) => m.to_owned(),
                (None, None) => format!("HTTP {status}"),
            };
            (code, format!("{what}: {detail}{}", hint(code)))
        }
        _ => (
            ErrorCode::Internal,
            format!("{what}: {}", DisplayErrorContext(&err)),
        ),
    };
    Error::new(code, message).with_source(err)
}

/// The credentials error behind `err`, if loading credentials is what failed.
fn credentials_error<E>(err: &SdkError<E, HttpResponse>) -> Option<&CredentialsError>
where
    E: std::error::Error + 'static,
{
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(found) = current.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        source = current.source();
    }
    None
}

/// `err` and its sources, each once, without the SDK's debug dump.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(current) = source {
        let next = current.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = current.source();
    }
    text
}

/// The portable code of an AWS error code, falling back on the HTTP status.
pub(crate) fn classify(code: Option<&str>, status: u16) -> ErrorCode {
    let by_code = code.and_then(|code| {
        // SQS's query protocol prefixes some codes.
        let code = code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code);
        Some(match code {
            "NoSuchKey"
            | "NoSuchBucket"
            | "NoSuchUpload"
            | "NotFound"
            | "NotFoundException"
            | "NonExistentQueue"
            | "QueueDoesNotExist"
            | "ResourceNotFoundException" => ErrorCode::NotFound,
            "PreconditionFailed" | "ConditionalRequestConflict" => ErrorCode::PreconditionFailed,
            "AccessDenied"
            | "AccessDeniedException"
            | "AuthorizationError"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "UnrecognizedClientException"
            | "InvalidSecurity"
            | "MissingAuthenticationToken"
            | "AllAccessDisabled" => ErrorCode::PermissionDenied,
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "SlowDown"
            | "RequestThrottled"
            | "RequestLimitExceeded"
            | "ServiceUnavailable"
            | "InternalError"
            | "InternalFailure"
            | "InternalErrorException"
            | "KMSThrottlingException" => ErrorCode::Unavailable,
            "BucketAlreadyOwnedByYou"
            | "BucketAlreadyExists"
            | "QueueAlreadyExists"
            | "QueueNameExists" => ErrorCode::AlreadyExists,
            "MessageNotInflight" => ErrorCode::NotFound,
            "EntityTooLarge"
            | "MessageTooLong"
            | "BatchRequestTooLong"
            | "InvalidRange"
            | "InvalidParameterValue"
            | "InvalidParameter"
            | "InvalidParameterException"
            | "InvalidArgument"
            | "InvalidAttributeName"
            | "InvalidAttributeValue"
            | "InvalidMessageContents"
            | "ReceiptHandleIsInvalid"
            | "InvalidBatchEntryId"
            | "MalformedXML"
            | "InvalidRequest"
            | "ValidationError"
            | "KeyTooLongError"
            | "InvalidBucketName" => ErrorCode::InvalidArgument,
            "TooManyEntriesInBatchRequest" | "EmptyBatchRequest" | "BatchEntryIdsNotDistinct" => {
                ErrorCode::Internal
            }
            _ => return None,
        })
    });
    by_code.unwrap_or(match status {
        404 => ErrorCode::NotFound,
        401 | 403 => ErrorCode::PermissionDenied,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::PreconditionFailed,
        416 | 400 | 413 => ErrorCode::InvalidArgument,
        429 | 500..=599 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    })
}

/// What to do about an error of this class.
fn hint(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::PermissionDenied => {
            " (check providers.aws.credentials or the standard AWS credential chain, \
             the region, and the IAM policy)"
        }
        ErrorCode::Unavailable => " (AWS is throttling or failing; retry later)",
        _ => "",
    }
}

/// An error with the same code and message as `err`, for answering several
/// publishes that failed together (Error is not `Clone`).
pub(crate) fn copy_error(err: &Error) -> Error {
    Error::new(err.code(), err.message())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    #[test]
    fn missing_credentials_say_how_to_give_them() {
        let cause = CredentialsError::not_loaded("no providers in chain provided credentials");
        let err: SdkError<aws_sdk_s3::operation::head_bucket::HeadBucketError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(cause), None));
        let err = sdk_error(err, "S3 bucket `b`", "S3 in eu-west-1");
        assert_eq!(err.code(), ErrorCode::PermissionDenied, "{err}");
        for needle in [
            "no AWS credentials could be loaded for S3 in eu-west-1",
            "no providers in chain",
            "providers.aws.credentials",
            "AWS_ACCESS_KEY_ID",
            "anonymous",
        ] {
            assert!(err.message().contains(needle), "`{needle}` in: {err}");
        }
    }

    #[test]
    fn codes_win_over_status_and_status_fills_the_gaps() {
        assert_eq!(classify(Some("NoSuchKey"), 404), ErrorCode::NotFound);
        assert_eq!(
            classify(Some("AWS.SimpleQueueService.NonExistentQueue"), 400),
            ErrorCode::NotFound
        );
        assert_eq!(
            classify(Some("ConditionalRequestConflict"), 409),
            ErrorCode::PreconditionFailed
        );
        assert_eq!(classify(Some("SlowDown"), 503), ErrorCode::Unavailable);
        assert_eq!(
            classify(Some("InvalidClientTokenId"), 403),
            ErrorCode::PermissionDenied
        );
        assert_eq!(classify(None, 404), ErrorCode::NotFound);
        assert_eq!(classify(None, 412), ErrorCode::PreconditionFailed);
        assert_eq!(classify(Some("Whatever"), 503), ErrorCode::Unavailable);
        assert_eq!(classify(None, 418), ErrorCode::Internal);
    }
}
