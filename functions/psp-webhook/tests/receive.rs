//! The receiver against moto (Secrets Manager, SQS).

#![allow(clippy::unwrap_used)]

use psp_webhook::Receiver;

/// moto with a signing secret holding `secret`, a queue and the replay table, named apart.
struct Aws {
    config: aws_config::SdkConfig,
    secrets: aws_sdk_secretsmanager::Client,
    sqs: aws_sdk_sqs::Client,
    name: String,
    url: String,
    table: String,
}

impl Aws {
    async fn start(secret: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let config = function_kit::aws::for_endpoint(&function_kit::aws::test_endpoint()).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let name = format!("psp-{id}/signing-secret");
        secrets
            .create_secret()
            .name(&name)
            .secret_string(secret)
            .send()
            .await
            .unwrap();
        let url = sqs
            .create_queue()
            .queue_name(format!("psp-callbacks-{id}"))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_owned();
        let created = function_kit::topology::ensure(
            &config,
            &function_kit::topology::Topology::committed().unwrap(),
            &format!("p{}-", &id[..12]),
        )
        .await
        .unwrap();
        let table = created.tables["psp-callbacks-seen"].clone();
        Self {
            config,
            secrets,
            sqs,
            name,
            url,
            table,
        }
    }

    async fn receiver(&self) -> Receiver {
        Receiver::new(&self.config, &self.name, &self.url, &self.table)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn only_signed_callbacks_are_queued() {
    // Mid-rotation: the new secret and the old one.
    let aws = Aws::start("s3cr3t old-s3cr3t").await;
    let (sqs, url) = (&aws.sqs, &aws.url);
    let receiver = aws.receiver().await;

    let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.amount_capturable_updated","data":{"object":{"id":"pi_1","object":"payment_intent"}}}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = psp_signature::sign(b"s3cr3t", now, body);
    // Signed with the old secret only, and with both (what Stripe sends while a secret is rolled).
    let old = psp_signature::sign(b"old-s3cr3t", now - 1, body);
    assert_eq!(receiver.receive(Some(&old), body).await.status, 202);
    let both = format!(
        "t={},v1={},{}",
        now - 2,
        "0".repeat(64),
        psp_signature::sign(b"s3cr3t", now - 2, body)
            .split(',')
            .nth(1)
            .unwrap()
    );
    assert_eq!(receiver.receive(Some(&both), body).await.status, 202);
    let answer = receiver.receive(Some(&good), body).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    // The same signed callback again is a replay.
    let replay = receiver.receive(Some(&good), body).await;
    assert_eq!(replay.status, 409, "{replay:?}");
    assert_eq!(replay.content_type, "application/problem+json");
    // The same callback re-spelled: an earlier `t` in front (the replay key once read the first
    // `t`, verification the last), or the timestamp zero-padded. Neither is a new callback.
    let v1 = good.split(',').nth(1).unwrap();
    for respelled in [
        format!("t={},t={now},{v1}", now - 7),
        format!("t=0{now},{v1}"),
    ] {
        let answer = receiver.receive(Some(&respelled), body).await;
        assert_eq!(answer.status, 401, "{respelled}: {answer:?}");
    }
    let tampered = {
        let mut bytes = body.to_vec();
        bytes[10] ^= 1;
        bytes
    };
    let answer = receiver.receive(Some(&good), &tampered).await;
    assert_eq!(answer.status, 401, "a tampered byte: {answer:?}");

    for (signature, body) in [
        (None, &body[..]),
        (Some(psp_signature::sign(b"wrong", now, body)), &body[..]),
        (
            Some(psp_signature::sign(b"s3cr3t", now - 3600, body)),
            &body[..],
        ),
    ] {
        let answer = receiver.receive(signature.as_deref(), body).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(answer.content_type, "application/problem+json");
    }
    for junk in [
        &b"not json"[..],
        br#"{"type":"authorization.succeeded","authorization":"auth_1","status":"approved"}"#,
        br#"{"id":"ch_1","object":"charge","type":"x"}"#,
    ] {
        let answer = receiver
            .receive(Some(&psp_signature::sign(b"s3cr3t", now, junk)), junk)
            .await;
        assert_eq!(answer.status, 400, "{answer:?}");
    }

    let messages = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_attribute_names(psp_signature::MESSAGE_ATTRIBUTE)
        .send()
        .await
        .unwrap();
    let bodies: Vec<&str> = messages
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    let text = std::str::from_utf8(body).unwrap();
    assert_eq!(
        bodies,
        [text, text, text],
        "only the three signed deliveries were queued"
    );
    for message in messages.messages() {
        let header = message
            .message_attributes()
            .and_then(|a| a.get(psp_signature::MESSAGE_ATTRIBUTE))
            .and_then(|v| v.string_value())
            .unwrap();
        let secrets = psp_signature::Secrets::parse("s3cr3t old-s3cr3t").unwrap();
        assert!(
            psp_signature::verify_any(&secrets, header, body, time::OffsetDateTime::now_utc())
                .is_ok(),
            "the signature travels with the event: {header}"
        );
    }
}

#[tokio::test]
async fn a_rolled_secret_is_read_again_when_a_signature_matches_none() {
    let aws = Aws::start("whsec_old").await;
    let warm = aws.receiver().await;
    let eager = aws.receiver().await.reread_after(std::time::Duration::ZERO);

    // The secret is rolled in Secrets Manager; Stripe now signs with the new one only.
    aws.secrets
        .put_secret_value()
        .secret_id(&aws.name)
        .secret_string("whsec_new")
        .send()
        .await
        .unwrap();
    let body = br#"{"id":"evt_rolled","object":"event","type":"payment_intent.succeeded","data":{"object":{}}}"#;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = psp_signature::sign(b"whsec_new", now, body);
    // An instance that read the secret less than a minute ago does not ask again...
    assert_eq!(warm.receive(Some(&signed), body).await.status, 401);
    // ...one due for a re-read reads the new secret and accepts the event.
    assert_eq!(eager.receive(Some(&signed), body).await.status, 202);
    // A forgery still fails after the re-read.
    let forged = psp_signature::sign(b"whsec_forged", now, body);
    assert_eq!(eager.receive(Some(&forged), body).await.status, 401);
}
