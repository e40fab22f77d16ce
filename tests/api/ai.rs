//! The AI agent (functions/ai-reply, events/ai-reply): stream records of user messages in AI
//! conversations, answered through a fake Bedrock runtime, a fake OpenAI-compatible endpoint or
//! the offline responder, with the frames caught by the fake Management API.

use crate::common::{AGENT_ID, assert_fields, assert_ok, assert_timestamp, take_dynamodb_down};
use aws_lambda_events::event::dynamodb::Event;
use chat_core::ai::AiConfig;
use chat_core::ai::reply::{Agent, UNAVAILABLE_MESSAGE};
use chat_core::domain::{ConnectionId, ConversationId, MessageId, MessageText, UserId};
use chat_core::store::replies::Claimed;
use chat_tests::Function::{ConversationsCreate, ConversationsHistory, ConversationsList};
use chat_tests::fake_gateway::FakeGateway;
use chat_tests::fake_models::{FakeBedrock, FakeOpenAi, bedrock_turns, sdk_config};
use chat_tests::{TestEnv, User, root};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

const MODEL_ID: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const SYSTEM_PROMPT: &str = "You are the test agent. Answer in one line.";

static SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// One user in one AI conversation, with one open socket registered on it.
struct World {
    env: TestEnv,
    gateway: FakeGateway,
    user: User,
    conversation: String,
    connection: String,
}

impl World {
    async fn new() -> Self {
        let (env, gateway) = TestEnv::with_realtime().await;
        let user = env.register("ann").await;
        let created = env
            .call(ConversationsCreate, "POST", "/api/conversations", Some(&user.token), Some(json!({"is_ai": true})))
            .await;
        let conversation = assert_ok(&created, 201)["conversation_id"].as_str().unwrap().to_string();
        let connection = format!("ai{}=", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        env.app
            .store
            .open_connection(&ConnectionId::parse(connection.clone()).unwrap(), UserId::parse(&user.id).unwrap())
            .await
            .unwrap();
        Self { env, gateway, user, conversation, connection }
    }

    /// Sends as the user (`POST /api/messages`) and returns the message's id and the stream
    /// event its insert produces; the frames the send pushed are forgotten.
    async fn say(&self, text: &str) -> (String, Event) {
        let sent = self.env.send(&self.user, &self.conversation, text).await;
        let body = assert_ok(&sent, 200);
        let id = body["message_id"].as_str().unwrap().to_string();
        let event = insert_event(&self.conversation, &id, &self.user.id, text, body["timestamp"].as_str().unwrap());
        self.gateway.take();
        (id, event)
    }

    /// Runs the function's handler on one event; returns the reported batch item failures.
    async fn deliver(&self, agent: &Agent, event: Event) -> Vec<String> {
        self.deliver_by(agent, event, SystemTime::now() + Duration::from_secs(60)).await
    }

    async fn deliver_by(&self, agent: &Agent, event: Event, deadline: SystemTime) -> Vec<String> {
        let response = ai_reply::handler(&self.env.app, agent, event, deadline).await;
        response.batch_item_failures.into_iter().map(|f| f.item_identifier.unwrap_or_default()).collect()
    }

    /// The conversation's messages, oldest first, through the history route.
    async fn history(&self) -> Vec<Value> {
        let path = format!("/api/conversations/{}", self.conversation);
        let reply = self.env.call(ConversationsHistory, "GET", &path, Some(&self.user.token), None).await;
        assert_ok(&reply, 200).as_array().unwrap().clone()
    }

    fn frames(&self) -> Vec<Value> {
        self.gateway.frames_to(&self.connection)
    }

    fn conversation_id(&self) -> ConversationId {
        ConversationId::parse(&self.conversation).unwrap()
    }
}

/// `events/ai-reply/<name>.json` with its placeholders filled, recorded as replayed (every
/// caller delivers it to the agent).
fn fixture(name: &str, vars: &[(&str, &str)]) -> String {
    let text = load(name, vars);
    chat_tests::record_replay("ai-reply", name);
    text
}

/// `events/ai-reply/<name>.json` with its placeholders filled, not recorded as replayed.
fn load(name: &str, vars: &[(&str, &str)]) -> String {
    let path = root().join("events/ai-reply").join(format!("{name}.json"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (key, value) in vars {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(!text.contains("{{"), "{} has unfilled placeholders", path.display());
    text
}

fn insert_event(conversation: &str, message: &str, sender: &str, text: &str, timestamp: &str) -> Event {
    let escaped = serde_json::to_string(text).unwrap();
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed).to_string();
    let vars = [
        ("conversation_id", conversation),
        ("message_id", message),
        ("sender_id", sender),
        ("message", &escaped[1..escaped.len() - 1]),
        ("timestamp", timestamp),
        ("sequence_number", &sequence),
    ];
    serde_json::from_str(&fixture("insert", &vars)).expect("the fixture is a DynamoDB stream event")
}

/// An agent configured like the function from these variables (retries fast).
async fn agent(vars: &[(&str, &str)]) -> Agent {
    let mut all: HashMap<String, String> = [("AI_RETRY_BASE_MS", "5"), ("AI_SYSTEM_PROMPT", SYSTEM_PROMPT)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = AiConfig::from_lookup(|k| all.get(k).cloned()).expect("test AI config is valid");
    Agent::from_config(config, &sdk_config()).expect("the model builds")
}

async fn bedrock_agent(bedrock: &FakeBedrock, extra: &[(&str, &str)]) -> Agent {
    let mut vars =
        vec![("AI_PROVIDER", "bedrock"), ("AI_MODEL_ID", MODEL_ID), ("BEDROCK_ENDPOINT", bedrock.endpoint())];
    vars.extend_from_slice(extra);
    agent(&vars).await
}

/// The `ai_delta` frames (exactly the contract's fields, all for this message), joined.
#[track_caller]
fn deltas(frames: &[Value], conversation: &str, reply_to: &str) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "ai_delta")
        .map(|f| {
            assert_fields(f, &["type", "conversation_id", "reply_to", "delta"]);
            assert_eq!(
                (f["conversation_id"].as_str(), f["reply_to"].as_str()),
                (Some(conversation), Some(reply_to)),
                "{f}"
            );
            f["delta"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The last frame is the stored reply as a `message` frame; returns its id.
#[track_caller]
fn assert_reply_frame(frames: &[Value], conversation: &str, text: &str) -> String {
    let last = frames.last().expect("a frame was pushed");
    assert_fields(last, &["type", "conversation_id", "message_id", "sender_id", "message", "timestamp"]);
    assert_eq!(last["type"], "message");
    assert_eq!(last["conversation_id"], conversation);
    assert_eq!(last["sender_id"], AGENT_ID);
    assert_eq!(last["message"], text);
    assert_timestamp(&last["timestamp"]);
    last["message_id"].as_str().unwrap().to_string()
}

#[track_caller]
fn assert_unavailable_frames(frames: &[Value], conversation: &str, reply_to: &str) {
    let errors: Vec<&Value> = frames.iter().filter(|f| f["type"] == "error").collect();
    assert_eq!(errors.len(), 1, "one error frame: {frames:?}");
    assert_eq!(
        errors[0],
        &json!({
            "type": "error",
            "error": {"message": UNAVAILABLE_MESSAGE, "status": 503},
            "conversation_id": conversation,
            "reply_to": reply_to,
        })
    );
    assert!(frames.iter().all(|f| f["type"] != "message"), "no reply pushed: {frames:?}");
}

// ---- Bedrock ----

#[tokio::test]
async fn bedrock_streams_deltas_then_stores_and_pushes_the_reply() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply(&["Hello", ", Ann", "! How can I help?"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("hi there").await;
    assert_eq!(world.deliver(&agent, event).await, Vec::<String>::new());

    // The request: signed, to the configured model, with the system prompt and the history.
    let requests = bedrock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", format!("/model/{MODEL_ID}/converse-stream").as_str())
    );
    assert!(request.headers["authorization"].starts_with("AWS4-HMAC-SHA256 "), "{:?}", request.headers);
    assert_eq!(request.body["system"], json!([{"text": SYSTEM_PROMPT}]));
    assert_eq!(bedrock_turns(&request.body), [("user".to_string(), "hi there".to_string())]);
    assert_eq!(request.body["inferenceConfig"]["maxTokens"], 1024);

    // Deltas while streaming, then the stored reply as a normal message frame.
    let text = "Hello, Ann! How can I help?";
    let frames = world.frames();
    assert!(frames.len() >= 2, "{frames:?}");
    assert_eq!(deltas(&frames[..frames.len() - 1], &world.conversation, &asked), text);
    assert!(frames[..frames.len() - 1].iter().all(|f| f["type"] == "ai_delta"));
    let reply_id = assert_reply_frame(&frames, &world.conversation, text);

    // Stored as the agent's message, after the question; the summary moved to it.
    let history = world.history().await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["message_id"], asked);
    assert_eq!(history[1]["message_id"], reply_id);
    assert_eq!((history[1]["sender_id"].as_str(), history[1]["message"].as_str()), (Some(AGENT_ID), Some(text)));
    let list = world.env.call(ConversationsList, "GET", "/api/conversations", Some(&world.user.token), None).await;
    assert_eq!(assert_ok(&list, 200)[0]["last_message"]["message_id"], reply_id);

    // The claim is done; the reply itself needs no reply.
    let snapshot = world.env.snapshot().await;
    let claim = &snapshot[&(format!("CONV#{}", world.conversation), format!("REPLY#{asked}"))];
    assert_eq!((claim["status"].as_str(), claim["reply_to"].as_str()), (Some("done"), Some(asked.as_str())));
    let stored_reply = &snapshot[&(format!("CONV#{}", world.conversation), format!("MSG#{reply_id}"))];
    assert!(stored_reply.get("needs_reply").is_none(), "{stored_reply}");
}

#[tokio::test]
async fn the_fixture_carries_the_stored_message_as_the_stream_does() {
    let world = World::new().await;
    let (asked, event) = world.say("does the fixture match?").await;
    let image: Value = serde_dynamo::from_item(event.records[0].change.new_image.clone()).unwrap();
    let snapshot = world.env.snapshot().await;
    assert_eq!(image, snapshot[&(format!("CONV#{}", world.conversation), format!("MSG#{asked}"))]);
    assert_eq!(image["needs_reply"], true);
}

#[tokio::test]
async fn the_model_gets_the_bounded_recent_history() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply(&["one back"]).reply(&["two back"]).reply(&["three back"]);
    let agent = bedrock_agent(&bedrock, &[("AI_HISTORY_MESSAGES", "3")]).await;
    for text in ["first", "second", "third"] {
        let (_, event) = world.say(text).await;
        assert!(world.deliver(&agent, event).await.is_empty());
    }
    let turns: Vec<Vec<(String, String)>> = bedrock.requests().iter().map(|r| bedrock_turns(&r.body)).collect();
    let turn = |role: &str, text: &str| (role.to_string(), text.to_string());
    assert_eq!(turns[0], [turn("user", "first")]);
    assert_eq!(turns[1], [turn("user", "first"), turn("assistant", "one back"), turn("user", "second")]);
    // Three messages at most, the answered one last: "first" has dropped out.
    assert_eq!(turns[2], [turn("user", "second"), turn("assistant", "two back"), turn("user", "third")]);
    assert_eq!(world.history().await.len(), 6);
}

/// A model may take longer than 5 s to send its first token. The SDK's stalled-stream
/// protection (aws-sdk-rust#1287: `ThroughputBelowMinimum` after 5 s without data) must not cut
/// it off: the reply arrives whole, in one attempt.
#[tokio::test]
async fn a_model_slow_to_send_its_first_token_is_waited_for() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply_slow_first_token(std::time::Duration::from_secs(7), &["worth", " the wait"]);
    let agent = bedrock_agent(&bedrock, &[("AI_MAX_ATTEMPTS", "1")]).await;
    let (_, event) = world.say("take your time").await;
    assert_eq!(world.deliver(&agent, event).await, Vec::<String>::new());
    let history = world.history().await;
    assert_eq!(history.last().unwrap()["message"], "worth the wait", "{history:?}");
    assert_eq!(bedrock.requests().len(), 1, "one attempt");
}

#[tokio::test]
async fn bedrock_throttling_is_retried_then_succeeds() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.throttle().throttle().reply(&["Third time lucky"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("anyone there?").await;
    assert!(world.deliver(&agent, event).await.is_empty());

    assert_eq!(bedrock.requests().len(), 3, "two throttled calls, then the one that worked");
    let frames = world.frames();
    assert!(frames.iter().all(|f| f["type"] != "error"), "{frames:?}");
    assert_eq!(deltas(&frames, &world.conversation, &asked), "Third time lucky");
    assert_reply_frame(&frames, &world.conversation, "Third time lucky");
    assert_eq!(world.history().await[1]["message"], "Third time lucky");
}

#[tokio::test]
async fn bedrock_throttling_until_the_attempts_run_out_is_a_503_and_stores_nothing() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.throttle().throttle().throttle().reply(&["too late"]);
    let agent = bedrock_agent(&bedrock, &[("AI_MAX_ATTEMPTS", "3")]).await;
    let (asked, event) = world.say("hello?").await;
    let before = world.env.snapshot().await;
    assert!(world.deliver(&agent, event).await.is_empty(), "a model failure is handled, not retried by Lambda");

    assert_eq!(bedrock.requests().len(), 3);
    assert_unavailable_frames(&world.frames(), &world.conversation, &asked);
    assert!(world.env.snapshot().await == before, "no reply and no claim left behind");
}

#[tokio::test]
async fn a_hard_bedrock_failure_is_not_retried_stores_nothing_and_tells_the_user() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.fail(403, "AccessDeniedException").reply(&["never asked"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("hello?").await;
    let before = world.env.snapshot().await;
    assert!(world.deliver(&agent, event).await.is_empty());

    assert_eq!(bedrock.requests().len(), 1, "access denied is not retried");
    assert_eq!(world.frames().len(), 1);
    assert_unavailable_frames(&world.frames(), &world.conversation, &asked);
    assert!(world.env.snapshot().await == before);
    // Among what is unchanged: no claim is left, so a later delivery of the record may answer.
    assert_eq!(world.history().await.len(), 1);
}

#[tokio::test]
async fn a_stream_that_breaks_is_retried_without_repeating_deltas() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.break_after(&["Half an ans"], "throttlingException").reply(&["A whole", " answer"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("tell me").await;
    assert!(world.deliver(&agent, event).await.is_empty());

    assert_eq!(bedrock.requests().len(), 2);
    let frames = world.frames();
    // The first attempt's preview, then silence, then the whole stored reply.
    assert_eq!(deltas(&frames, &world.conversation, &asked), "Half an ans");
    assert_reply_frame(&frames, &world.conversation, "A whole answer");
    assert_eq!(world.history().await[1]["message"], "A whole answer");
}

#[tokio::test]
async fn a_model_that_hangs_times_out_and_is_retried() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply_after(Duration::from_secs(4), &["too slow"]).reply(&["in time"]);
    let agent = bedrock_agent(&bedrock, &[("AI_TIMEOUT_SECONDS", "1")]).await;
    let (_, event) = world.say("quick!").await;
    assert!(world.deliver(&agent, event).await.is_empty());
    assert_eq!(bedrock.requests().len(), 2);
    assert_reply_frame(&world.frames(), &world.conversation, "in time");
}

// ---- OpenAI-compatible ----

async fn openai_agent(openai: &FakeOpenAi) -> Agent {
    let base = openai.base_url();
    agent(&[
        ("AI_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", &base),
        ("OPENAI_MODEL", "gpt-test"),
        ("OPENAI_API_KEY", "sk-test"),
    ])
    .await
}

#[tokio::test]
async fn openai_streams_deltas_then_stores_and_pushes_the_reply() {
    let world = World::new().await;
    let openai = FakeOpenAi::start().await;
    openai.reply(&["Hi", " from", " the", " compatible API"]);
    let agent = openai_agent(&openai).await;
    let (asked, event) = world.say("hi there").await;
    assert!(world.deliver(&agent, event).await.is_empty());

    let requests = openai.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(request.headers["authorization"], "Bearer sk-test");
    assert_eq!(request.body["model"], "gpt-test");
    assert_eq!(request.body["stream"], true);
    assert_eq!(
        request.body["messages"],
        json!([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "hi there"}])
    );

    let text = "Hi from the compatible API";
    let frames = world.frames();
    assert_eq!(deltas(&frames, &world.conversation, &asked), text);
    let reply_id = assert_reply_frame(&frames, &world.conversation, text);
    let history = world.history().await;
    assert_eq!(
        (history[1]["message_id"].as_str(), history[1]["sender_id"].as_str()),
        (Some(reply_id.as_str()), Some(AGENT_ID))
    );
}

#[tokio::test]
async fn openai_retries_429_and_5xx_but_not_a_refusal() {
    let world = World::new().await;
    let openai = FakeOpenAi::start().await;
    let agent = openai_agent(&openai).await;

    openai.fail(429).fail(502).reply(&["Recovered"]);
    let (_, event) = world.say("first").await;
    assert!(world.deliver(&agent, event).await.is_empty());
    assert_eq!(openai.requests().len(), 3);
    assert_reply_frame(&world.frames(), &world.conversation, "Recovered");

    openai.fail(400).reply(&["never asked"]);
    let (asked, event) = world.say("second").await;
    let before = world.env.snapshot().await;
    assert!(world.deliver(&agent, event).await.is_empty());
    assert_eq!(openai.requests().len(), 4, "a 400 is not retried");
    assert_unavailable_frames(&world.frames(), &world.conversation, &asked);
    assert!(world.env.snapshot().await == before);
}

// ---- Offline ----

#[tokio::test]
async fn the_offline_responder_answers_and_says_it_is_offline() {
    let world = World::new().await;
    let agent = agent(&[]).await;
    let (asked, event) = world.say("what's the weather?").await;
    assert!(world.deliver(&agent, event).await.is_empty());

    let history = world.history().await;
    assert_eq!(history.len(), 2);
    let reply = history[1]["message"].as_str().unwrap();
    assert_eq!(history[1]["sender_id"], AGENT_ID);
    assert!(reply.starts_with("[offline agent]"), "{reply}");
    assert!(reply.contains("offline responder") && reply.contains("what's the weather?"), "{reply}");
    let frames = world.frames();
    assert!(frames.iter().filter(|f| f["type"] == "ai_delta").count() >= 2, "it streams: {frames:?}");
    assert_eq!(deltas(&frames, &world.conversation, &asked), reply);
    assert_reply_frame(&frames, &world.conversation, reply);
}

// ---- At most one reply ----

#[tokio::test]
async fn a_record_delivered_twice_gets_one_reply() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply(&["The one reply"]).reply(&["A DUPLICATE"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (_, event) = world.say("once please").await;
    assert!(world.deliver(&agent, event.clone()).await.is_empty());
    let after_first = world.env.snapshot().await;
    world.gateway.take();

    assert!(world.deliver(&agent, event).await.is_empty());
    assert_eq!(bedrock.requests().len(), 1, "the redelivery does not call the model");
    assert!(world.frames().is_empty(), "nor pushes anything");
    assert!(world.env.snapshot().await == after_first);
    let history = world.history().await;
    assert_eq!(history.iter().filter(|m| m["sender_id"] == AGENT_ID).count(), 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_record_get_one_reply() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    // The first call is slow, so the other deliveries arrive while it holds the claim; spare
    // replies would be used by any duplicate call.
    bedrock.reply_after(Duration::from_millis(500), &["The one reply"]);
    for _ in 0..3 {
        bedrock.reply(&["A DUPLICATE"]);
    }
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (_, event) = world.say("once please").await;
    let results = futures::future::join_all((0..4).map(|_| world.deliver(&agent, event.clone()))).await;
    assert!(results.iter().all(Vec::is_empty), "{results:?}");

    assert_eq!(bedrock.requests().len(), 1);
    let history = world.history().await;
    let replies: Vec<&Value> = history.iter().filter(|m| m["sender_id"] == AGENT_ID).collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["message"], "The one reply");
    assert_eq!(world.frames().iter().filter(|f| f["type"] == "message").count(), 1);
}

#[tokio::test]
async fn a_lapsed_claim_can_be_taken_over_but_never_yields_a_second_reply() {
    let world = World::new().await;
    let store = &world.env.app.store;
    let conversation = store.conversation(world.conversation_id()).await.unwrap().unwrap();
    let (asked, _) = world.say("hello").await;
    let asked = MessageId::parse(&asked).unwrap();
    let now = chrono::Utc::now().timestamp();
    let text = || MessageText::parse("reply".into()).unwrap();

    let Claimed::Won(stale) = store.claim_reply(conversation.id(), asked, now - 1).await.unwrap() else {
        panic!("the first claim wins")
    };
    // Its lease has run out (its invocation is gone): a redelivery takes it over...
    let Claimed::Won(fresh) = store.claim_reply(conversation.id(), asked, now + 60).await.unwrap() else {
        panic!("a lapsed claim is taken over")
    };
    // ...and while the new owner holds it, nobody else gets it.
    assert!(matches!(store.claim_reply(conversation.id(), asked, now + 60).await.unwrap(), Claimed::InProgress));
    // Should the old owner still be alive after all, it can neither store nor release.
    assert!(store.store_reply(&conversation, &stale, text()).await.unwrap().is_none());
    store.release_reply(&stale).await.unwrap();
    assert!(store.store_reply(&conversation, &fresh, text()).await.unwrap().is_some());
    assert!(matches!(store.claim_reply(conversation.id(), asked, now + 60).await.unwrap(), Claimed::Answered { .. }));
    assert_eq!(world.history().await.iter().filter(|m| m["sender_id"] == AGENT_ID).count(), 1);
}

/// An attempt stored the reply and then never pushed it (its invocation died, or DynamoDB lost
/// the answer to its write): the trigger's redelivery finds the reply stored, waits out that
/// attempt's hold on the delivery, and pushes the stored reply, once, without asking the model
/// again. Another redelivery pushes nothing.
#[tokio::test]
async fn a_redelivery_pushes_a_stored_reply_nobody_delivered() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("hello").await;
    let asked_id = MessageId::parse(&asked).unwrap();
    let store = &world.env.app.store;
    let conversation = store.conversation(world.conversation_id()).await.unwrap().unwrap();
    let now = chrono::Utc::now().timestamp();
    let Claimed::Won(claim) = store.claim_reply(conversation.id(), asked_id, now + 60).await.unwrap() else {
        panic!("the first claim wins")
    };
    let reply =
        store.store_reply(&conversation, &claim, MessageText::parse("stored, never pushed".into()).unwrap()).await;
    let reply = reply.unwrap().expect("stored");
    assert!(world.frames().is_empty());

    assert!(world.deliver(&agent, event.clone()).await.is_empty());
    let messages: Vec<Value> = world.frames().into_iter().filter(|f| f["type"] == "message").collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["message_id"], json!(reply.message_id));
    assert!(bedrock.requests().is_empty(), "the model was asked again");

    assert!(world.deliver(&agent, event).await.is_empty());
    assert_eq!(world.frames().iter().filter(|f| f["type"] == "message").count(), 1, "pushed twice");
}

#[tokio::test]
async fn a_redelivery_waits_out_a_dead_invocations_claim_then_answers() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply(&["Answered after all"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("hello").await;
    let asked_id = MessageId::parse(&asked).unwrap();
    // An invocation claimed the reply and died: its lease runs out in a second.
    let now = chrono::Utc::now().timestamp();
    let store = &world.env.app.store;
    assert!(matches!(store.claim_reply(world.conversation_id(), asked_id, now + 1).await.unwrap(), Claimed::Won(_)));

    assert!(world.deliver(&agent, event).await.is_empty());
    assert_eq!(bedrock.requests().len(), 1);
    assert_reply_frame(&world.frames(), &world.conversation, "Answered after all");
}

#[tokio::test]
async fn a_claim_that_outlasts_the_invocation_is_left_for_a_retry() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, event) = world.say("hello").await;
    let sequence = event.records[0].change.sequence_number.clone().unwrap();
    let now = chrono::Utc::now().timestamp();
    let claimed = world.env.app.store.claim_reply(world.conversation_id(), MessageId::parse(&asked).unwrap(), now + 60);
    assert!(matches!(claimed.await.unwrap(), Claimed::Won(_)));

    let deadline = SystemTime::now() + Duration::from_secs(4);
    assert_eq!(world.deliver_by(&agent, event, deadline).await, [sequence], "Lambda retries it later");
    assert!(bedrock.requests().is_empty());
    assert!(world.frames().is_empty());
}

// ---- The trigger ----

/// Placeholders of `events/ai-reply/*.json` (DynamoDB stream events, not API Gateway ones).
const FIXTURE_PLACEHOLDERS: [&str; 7] =
    ["conversation_id", "message_id", "agent_message_id", "sender_id", "message", "timestamp", "sequence_number"];

#[test]
fn every_ai_reply_fixture_is_a_stream_event() {
    let dir = root().join("events/ai-reply");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            assert_eq!(path.extension().and_then(|e| e.to_str()), Some("json"), "{} is not a fixture", path.display());
            path.file_stem().unwrap().to_str().unwrap().to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["ignored", "insert"]);
    let id = MessageId::generate().to_string();
    let vars: Vec<(&str, &str)> = FIXTURE_PLACEHOLDERS.iter().map(|name| (*name, id.as_str())).collect();
    for name in names {
        let event: Event = serde_json::from_str(&load(&name, &vars)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!event.records.is_empty(), "{name}");
        assert!(event.records.iter().all(|r| r.event_source.as_deref() == Some("aws:dynamodb")), "{name}");
    }
}

#[tokio::test]
async fn records_that_need_no_reply_are_skipped() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (asked, _) = world.say("an earlier message").await;
    let vars = [
        ("conversation_id", world.conversation.as_str()),
        ("message_id", asked.as_str()),
        ("agent_message_id", &MessageId::generate().to_string()),
        ("sender_id", &world.user.id),
    ];
    let event: Event = serde_json::from_str(&fixture("ignored", &vars)).unwrap();
    let before = world.env.snapshot().await;
    assert!(world.deliver(&agent, event).await.is_empty());
    assert!(bedrock.requests().is_empty());
    assert!(world.frames().is_empty());
    assert!(world.env.snapshot().await == before);
}

#[tokio::test]
async fn a_message_in_a_direct_conversation_is_not_answered() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    let agent = bedrock_agent(&bedrock, &[]).await;
    let bob = world.env.register("bob").await;
    let direct = world.env.direct_conversation(&world.user, &bob).await;
    let sent = world.env.send(&world.user, &direct, "hi bob").await;
    let body = assert_ok(&sent, 200);
    let id = body["message_id"].as_str().unwrap();
    // Even with a forged needs_reply, the agent checks the conversation itself.
    let event = insert_event(&direct, id, &world.user.id, "hi bob", body["timestamp"].as_str().unwrap());
    let before = world.env.snapshot().await;
    assert!(world.deliver(&agent, event).await.is_empty());
    assert!(bedrock.requests().is_empty());
    assert!(world.env.snapshot().await == before);
}

#[tokio::test]
async fn dynamodb_down_reports_the_record_for_a_retry() {
    let mut world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply(&["never asked"]);
    let agent = bedrock_agent(&bedrock, &[]).await;
    let (_, event) = world.say("hello").await;
    let sequence = event.records[0].change.sequence_number.clone().unwrap();
    let pushed = world.frames().len();
    take_dynamodb_down(&mut world.env);
    assert_eq!(world.deliver(&agent, event).await, [sequence]);
    assert!(bedrock.requests().is_empty());
    assert_eq!(world.frames().len(), pushed, "pushed while DynamoDB was down: {:?}", world.frames());
}

/// The reply streamed in, then storing it failed (DynamoDB went away mid-reply): the user, who
/// saw the deltas, gets the 503 error frame at once (from the sockets listed before, since
/// DynamoDB may be what failed), and the trigger is reported failed so Lambda retries it.
#[tokio::test]
async fn a_reply_that_streamed_but_could_not_be_stored_tells_the_user() {
    let world = World::new().await;
    let bedrock = FakeBedrock::start().await;
    bedrock.reply_after(Duration::from_secs(1), &["almost", " there"]);
    let agent = bedrock_agent(&bedrock, &[("AI_MAX_ATTEMPTS", "1")]).await;
    let (asked, event) = world.say("are you there?").await;
    let (client, table) = (world.env.client.clone(), world.env.table.clone());
    let outage = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.delete_table().table_name(table).send().await.expect("the table goes away");
    });
    let failures = world.deliver(&agent, event).await;
    outage.await.unwrap();
    assert_eq!(failures.len(), 1, "the trigger is retried");
    let frames = world.frames();
    assert_eq!(deltas(&frames, &world.conversation, &asked), "almost there");
    assert_unavailable_frames(&frames, &world.conversation, &asked);
    assert_eq!(frames.last().unwrap()["type"], "error", "{frames:?}");
}
