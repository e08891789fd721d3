//! The conformance suite of the store traits: what every backend must do, written against
//! [`WorkflowStore`] and [`SmartObjectStore`] only (no SQL, no backend type). SQLite runs it today
//! (`tests/it/store_conformance.rs`); a new backend adds its factory there.
//!
//! Built only with the `conformance` feature, which only the workspace's tests enable: nothing of it ships.

use crate::odata::catalog::Catalog;
use crate::odata::edm::{normalize_datetime, normalize_time, Value};
use crate::odata::eval;
use crate::odata::filter::{parse_filter, parse_orderby};
use crate::odata::smartobject::{SmartObject, SmartObjectFile};
use crate::odata::store::ListQuery;
use crate::store::{StoreError, Stores};
use crate::workflow::error::WorkflowError;
use crate::workflow::item_refs::ItemReferences;
use crate::workflow::store::{
    HistoryRecord, InstanceRecord, NewInstance, NewTask, Page, Principal, TaskStatus, Transition, DESTINATION_GROUP,
    DESTINATION_USER,
};
use authgate_core::config::OdataConfig;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::any::Any;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

/// Stores on a fresh, empty database, and whatever must live as long as they do (a temporary directory...).
pub struct Fresh {
    /// The stores under test.
    pub stores: Stores,
    /// Dropped after the check.
    pub guard: Box<dyn Any + Send>,
}

/// A backend under test: opens fresh stores on an empty database each time it is called.
pub type Factory = dyn Fn() -> Pin<Box<dyn Future<Output = Fresh> + Send>> + Send + Sync;

type Check = fn(Stores) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every check, by name; [`run_all`] runs each on fresh stores.
pub const CHECKS: &[(&str, Check)] = &[
    ("workflow_start_then_read_back", |s| {
        Box::pin(workflow_start_then_read_back(s))
    }),
    ("workflow_worklist_by_user_group_state_and_page", |s| {
        Box::pin(workflow_worklist(s))
    }),
    ("workflow_worklist_pages_merge_every_source_in_id_order", |s| {
        Box::pin(workflow_worklist_pages(s))
    }),
    ("workflow_update_task_writes_the_transition", |s| {
        Box::pin(workflow_update_task(s))
    }),
    ("workflow_refusal_writes_nothing_and_missing_task_is_not_found", |s| {
        Box::pin(workflow_refusal(s))
    }),
    ("workflow_concurrent_actions_on_one_task_exactly_one_wins", |s| {
        Box::pin(workflow_concurrent_actions(s))
    }),
    ("smartobject_rows_round_trip_with_generated_values", |s| {
        Box::pin(smartobject_round_trip(s))
    }),
    (
        "smartobject_duplicate_keys_conflict_and_new_properties_add_columns",
        |s| Box::pin(smartobject_schema(s)),
    ),
    ("statistics_views_present_workflow_rows", |s| {
        Box::pin(statistics_views(s))
    }),
    ("oauth_state_is_consumed_exactly_once_under_concurrency", |s| {
        Box::pin(oauth::state_consumed_once(s))
    }),
    ("oauth_expired_state_is_gone", |s| Box::pin(oauth::state_expiry(s))),
    (
        "oauth_upsert_writes_both_tokens_and_keeps_an_unrotated_refresh_token",
        |s| Box::pin(oauth::upsert_and_rotation(s)),
    ),
    ("oauth_revoke_one_and_all", |s| Box::pin(oauth::revoke(s))),
    ("oauth_a_user_never_lists_or_reads_another_users_connection", |s| {
        Box::pin(oauth::user_isolation(s))
    }),
    (
        "oauth_refresh_lock_holders_serialise_and_the_second_sees_the_first_write",
        |s| Box::pin(oauth::refresh_lock(s)),
    ),
    (
        "admin_settings_write_with_the_current_version_only_and_audit_in_the_same_step",
        |s| Box::pin(admin::settings_versioned(s)),
    ),
    ("admin_audit_pages_newest_first", |s| Box::pin(admin::audit_pages(s))),
    ("admin_a_key_is_stored_once_and_shared", |s| {
        Box::pin(admin::key_once(s))
    }),
    ("admin_replicas_beat_are_listed_by_last_beat_and_pruned", |s| {
        Box::pin(admin::replicas_beat(s))
    }),
];

/// Runs every check of [`CHECKS`] on fresh stores from `factory`, then the `$filter` property test, on a
/// runtime of its own. Panics with the name of the first check that fails.
pub fn run_all(factory: &Factory) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a test runtime");
    for (name, check) in CHECKS {
        eprintln!("store conformance: {name}");
        runtime.block_on(async {
            let fresh = factory().await;
            let handle = tokio::spawn(check(fresh.stores));
            if let Err(e) = handle.await {
                panic!("store conformance check {name} failed: {e}");
            }
            drop(fresh.guard);
        });
    }
    eprintln!("store conformance: filter_selects_exactly_the_rows_the_reference_evaluator_matches");
    filter_property(&runtime, factory);
}

fn principal(user: &str, groups: &[&str]) -> Principal {
    Principal {
        user: user.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn instance(folio: &str, originator: &str, at: i64) -> InstanceRecord {
    InstanceRecord {
        id: 0,
        workflow_id: 1,
        workflow_name: "Expense Claim".into(),
        folio: folio.into(),
        priority: 1,
        status: "Active".into(),
        originator: originator.into(),
        originator_display_name: Some("Alice".into()),
        originator_email: Some("alice@contoso.com".into()),
        current_activity: Some("Approve".into()),
        data_fields: serde_json::json!({"Amount": 5, "Note": "é"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        xml_fields: serde_json::Map::new(),
        item_references: ItemReferences::default(),
        expected_duration: 60,
        started_at: at,
        finished_at: None,
    }
}

fn task_to(kind: &str, destination: &str) -> NewTask {
    let user = kind == DESTINATION_USER;
    NewTask {
        activity: "Approve".into(),
        destination_kind: kind.into(),
        destination: destination.into(),
        allocated_to: user.then(|| destination.to_string()),
        status: if user {
            TaskStatus::Allocated
        } else {
            TaskStatus::Available
        },
    }
}

async fn start(stores: &Stores, folio: &str, task: NewTask, at: i64) -> (i64, i64) {
    let (id, serial) = stores
        .workflow
        .start(NewInstance {
            instance: instance(folio, "K2:CONTOSO\\alice", at),
            first_task: task,
        })
        .await
        .expect("start");
    let task_id: i64 = serial
        .split_once('_')
        .and_then(|(i, t)| (i == id.to_string()).then(|| t.parse().ok()).flatten())
        .unwrap_or_else(|| panic!("serial number {serial} is not {{instance}}_{{task}}"));
    (id, task_id)
}

async fn workflow_start_then_read_back(stores: Stores) {
    let (id, task_id) = start(
        &stores,
        "F-1",
        task_to(DESTINATION_USER, "K2:CONTOSO\\bob"),
        1_700_000_000,
    )
    .await;
    let (task, inst) = stores.workflow.task(task_id).await.unwrap().expect("the first task");
    assert_eq!(task.instance_id, id);
    assert_eq!(task.serial_number, format!("{id}_{task_id}"));
    assert_eq!(task.status, TaskStatus::Allocated);
    assert_eq!(task.allocated_to.as_deref(), Some("K2:CONTOSO\\bob"));
    assert_eq!(task.created_at, 1_700_000_000);
    assert_eq!(task.completed_at, None);
    let mut expected = instance("F-1", "K2:CONTOSO\\alice", 1_700_000_000);
    expected.id = id;
    assert_eq!(inst, expected);
    let (again, tasks, history) = stores.workflow.instance(id).await.unwrap().expect("the instance");
    assert_eq!(again, expected);
    assert_eq!(tasks, vec![task]);
    assert_eq!(
        history,
        vec![HistoryRecord {
            at: 1_700_000_000,
            actor: "K2:CONTOSO\\alice".into(),
            event: "Started".into(),
            activity: None,
            serial_number: None,
            detail: Some("F-1".into()),
        }]
    );
    assert!(stores.workflow.instance(id + 100).await.unwrap().is_none());
    assert!(stores.workflow.task(task_id + 100).await.unwrap().is_none());
}

async fn workflow_worklist(stores: Stores) {
    let (_, bob_task) = start(&stores, "F-1", task_to(DESTINATION_USER, "K2:CONTOSO\\bob"), 100).await;
    let (_, group_task) = start(&stores, "F-2", task_to(DESTINATION_GROUP, "Approvers"), 200).await;
    let (_, other_task) = start(&stores, "F-3", task_to(DESTINATION_GROUP, "Others"), 300).await;
    let page = Page { skip: 0, take: 10 };
    let ids = |rows: Vec<(crate::workflow::store::TaskRecord, InstanceRecord)>| {
        rows.into_iter().map(|(t, _)| t.id).collect::<Vec<_>>()
    };
    // Users and groups match case-insensitively; oldest first.
    let bob = principal("k2:contoso\\BOB", &["approvers"]);
    assert_eq!(
        ids(stores.workflow.worklist(&bob, None, page, 1000).await.unwrap()),
        vec![bob_task, group_task]
    );
    let carol = principal("K2:CONTOSO\\carol", &["Others", "Approvers"]);
    assert_eq!(
        ids(stores.workflow.worklist(&carol, None, page, 1000).await.unwrap()),
        vec![group_task, other_task]
    );
    assert_eq!(
        ids(stores
            .workflow
            .worklist(&bob, Some(TaskStatus::Available), page, 1000)
            .await
            .unwrap()),
        vec![group_task]
    );
    let second = Page { skip: 1, take: 1 };
    assert_eq!(
        ids(stores.workflow.worklist(&bob, None, second, 1000).await.unwrap()),
        vec![group_task]
    );
    assert!(stores
        .workflow
        .worklist(&principal("nobody", &[]), None, page, 1000)
        .await
        .unwrap()
        .is_empty());
    // A sleep whose time has passed counts as its prior status.
    stores
        .workflow
        .update_task(
            bob_task,
            Box::new(|t, _| {
                let mut task = t.clone();
                task.prior_status = Some(task.status);
                task.status = TaskStatus::Sleep;
                task.sleep_until = Some(500);
                Ok(Transition {
                    at: 400,
                    task,
                    instance: None,
                    new_task: None,
                    history: vec![],
                })
            }),
        )
        .await
        .unwrap()
        .unwrap();
    let sleeping = |now| stores.workflow.worklist(&bob, Some(TaskStatus::Sleep), page, now);
    assert_eq!(ids(sleeping(450).await.unwrap()), vec![bob_task]);
    assert!(sleeping(600).await.unwrap().is_empty());
    let allocated = stores
        .workflow
        .worklist(&bob, Some(TaskStatus::Allocated), page, 600)
        .await
        .unwrap();
    assert_eq!(ids(allocated), vec![bob_task]);
}

/// Tasks held by the user and untaken in several groups, interleaved: every page of the worklist, with the
/// groups named once, twice (in another case), or more than `MAX_GROUP_SCANS` of them, is the right slice
/// of one id-ordered list with no task twice.
async fn workflow_worklist_pages(stores: Stores) {
    use crate::workflow::store::MAX_GROUP_SCANS;
    let mut mine = Vec::new();
    for n in 0..40 {
        let task = match n % 5 {
            0 => task_to(DESTINATION_USER, "K2:CONTOSO\\dana"),
            1 => task_to(DESTINATION_GROUP, "G1"),
            2 => task_to(DESTINATION_GROUP, "g2"),
            3 => task_to(DESTINATION_GROUP, "G3"),
            _ => task_to(DESTINATION_GROUP, "Elsewhere"),
        };
        let (_, id) = start(&stores, &format!("P-{n}"), task, 100 + n).await;
        if n % 5 != 4 {
            mine.push(id);
        }
    }
    let ids = |rows: Vec<(crate::workflow::store::TaskRecord, InstanceRecord)>| {
        rows.into_iter().map(|(t, _)| t.id).collect::<Vec<_>>()
    };
    let many: Vec<String> = ["G1", "G2", "G3"]
        .into_iter()
        .map(String::from)
        .chain((0..MAX_GROUP_SCANS).map(|i| format!("Filler{i}")))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for groups in [vec!["G1", "G2", "G3"], vec!["g1", "G1", "G2", "g3", "G3", "g2"], many] {
        let dana = principal("K2:CONTOSO\\Dana", &groups);
        let all = ids(stores
            .workflow
            .worklist(&dana, None, Page { skip: 0, take: 1000 }, 1000)
            .await
            .unwrap());
        assert_eq!(all, mine, "the whole worklist with groups {groups:?}");
        for take in [1, 7, 13] {
            let mut paged = Vec::new();
            let mut skip = 0;
            loop {
                let page = ids(stores
                    .workflow
                    .worklist(&dana, None, Page { skip, take }, 1000)
                    .await
                    .unwrap());
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= take as usize);
                paged.extend(page);
                skip += take;
            }
            assert_eq!(paged, mine, "pages of {take} with groups {groups:?}");
        }
        let available = ids(stores
            .workflow
            .worklist(&dana, Some(TaskStatus::Available), Page { skip: 3, take: 5 }, 1000)
            .await
            .unwrap());
        let untaken: Vec<i64> = mine
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 != 0)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            available,
            untaken[3..8].to_vec(),
            "a filtered page with groups {groups:?}"
        );
    }
}

async fn workflow_update_task(stores: Stores) {
    let (id, task_id) = start(&stores, "F-1", task_to(DESTINATION_GROUP, "Approvers"), 100).await;
    let refs = ItemReferences::from_request(serde_json::json!({"Customer": {"1": {"Code": "A"}}})).unwrap();
    let (task, inst) = stores
        .workflow
        .update_task(
            task_id,
            Box::new(move |t, i| {
                let mut task = t.clone();
                task.status = TaskStatus::Completed;
                task.action = Some("Approve".into());
                task.actioned_by = Some("K2:CONTOSO\\bob".into());
                task.completed_at = Some(150);
                let mut inst = i.clone();
                inst.current_activity = Some("Pay".into());
                inst.data_fields.insert("Amount".into(), serde_json::json!(7));
                inst.item_references = refs;
                Ok(Transition {
                    at: 150,
                    task,
                    instance: Some(inst),
                    new_task: Some(NewTask {
                        activity: "Pay".into(),
                        ..task_to(DESTINATION_USER, "K2:CONTOSO\\fran")
                    }),
                    history: vec![HistoryRecord {
                        at: 150,
                        actor: "K2:CONTOSO\\bob".into(),
                        event: "Action".into(),
                        activity: Some("Approve".into()),
                        serial_number: Some(format!("{id}_{task_id}")),
                        detail: Some("Approve".into()),
                    }],
                })
            }),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(inst.current_activity.as_deref(), Some("Pay"));
    let (stored, tasks, history) = stores.workflow.instance(id).await.unwrap().unwrap();
    assert_eq!(stored, inst);
    assert_eq!(stored.item_references.to_json()["Customer"]["1"]["Code"], "A");
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0], task);
    assert_eq!(tasks[1].activity, "Pay");
    assert_eq!(tasks[1].created_at, 150);
    assert_eq!(tasks[1].allocated_to.as_deref(), Some("K2:CONTOSO\\fran"));
    assert_eq!(
        history.iter().map(|h| h.event.as_str()).collect::<Vec<_>>(),
        ["Started", "Action"]
    );
    // A completed task leaves every worklist.
    let bob = principal("K2:CONTOSO\\bob", &["Approvers"]);
    assert!(stores
        .workflow
        .worklist(&bob, None, Page { skip: 0, take: 10 }, 200)
        .await
        .unwrap()
        .is_empty());
}

async fn workflow_refusal(stores: Stores) {
    let (id, task_id) = start(&stores, "F-1", task_to(DESTINATION_GROUP, "Approvers"), 100).await;
    let outcome = stores
        .workflow
        .update_task(task_id, Box::new(|_, _| Err(WorkflowError::Conflict("no".into()))))
        .await
        .unwrap();
    assert!(matches!(outcome, Err(WorkflowError::Conflict(_))));
    let (_, tasks, history) = stores.workflow.instance(id).await.unwrap().unwrap();
    assert_eq!(tasks[0].status, TaskStatus::Available);
    assert_eq!(history.len(), 1);
    let missing = stores
        .workflow
        .update_task(task_id + 100, Box::new(|_, _| panic!("no task to decide about")))
        .await
        .unwrap();
    assert!(matches!(missing, Err(WorkflowError::NotFound(_))));
}

async fn workflow_concurrent_actions(stores: Stores) {
    let (id, task_id) = start(&stores, "F-1", task_to(DESTINATION_GROUP, "Approvers"), 100).await;
    let mut actions = tokio::task::JoinSet::new();
    for n in 0..8 {
        let store = stores.workflow.clone();
        actions.spawn(async move {
            store
                .update_task(
                    task_id,
                    Box::new(move |t, _| {
                        if t.completed_at.is_some() {
                            return Err(WorkflowError::Conflict("already actioned".into()));
                        }
                        let mut task = t.clone();
                        task.status = TaskStatus::Completed;
                        task.actioned_by = Some(format!("user{n}"));
                        task.completed_at = Some(200);
                        Ok(Transition {
                            at: 200,
                            task,
                            instance: None,
                            new_task: None,
                            history: vec![],
                        })
                    }),
                )
                .await
        });
    }
    let mut won = Vec::new();
    let mut refused = 0;
    while let Some(outcome) = actions.join_next().await {
        match outcome.unwrap().unwrap() {
            Ok((task, _)) => won.push(task.actioned_by),
            Err(WorkflowError::Conflict(_)) => refused += 1,
            Err(other) => panic!("unexpected refusal: {other}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one action wins");
    assert_eq!(refused, 7);
    let (_, tasks, _) = stores.workflow.instance(id).await.unwrap().unwrap();
    assert_eq!(tasks[0].actioned_by, won[0]);
}

fn catalog(text: &str) -> Catalog {
    let file: SmartObjectFile =
        authgate_core::config::parse_yaml(Path::new("conformance.yaml"), text, |_| None).expect("valid YAML");
    let so = SmartObject::from_file(file).expect("a valid SmartObject");
    Catalog::build(vec![so], &OdataConfig::default()).expect("a valid catalog")
}

const ITEM: &str = r#"
system_name: Item
key: Id
methods: [List, Read, Create, Update, Delete]
properties:
  - {name: Id, type: AutoNumber}
  - {name: Ref, type: AutoGuid}
  - {name: Seq, type: AutoNumber}
  - {name: Name, type: Text, indexed: true}
  - {name: Price, type: Decimal}
  - {name: Active, type: Boolean}
"#;

async fn smartobject_round_trip(stores: Stores) {
    let store = stores.smartobjects;
    let cat = catalog(ITEM);
    store.sync_schema(&cat).await.unwrap();
    store.sync_schema(&cat).await.expect("syncing again changes nothing");
    let so = cat.defined()[0].clone();
    for (name, price) in [("b", 2.5), ("a", 1.0), ("c", 3.0)] {
        let values = vec![
            (3, Value::String(name.into())),
            (4, Value::Decimal(price)),
            (5, Value::Bool(true)),
        ];
        let row = store.create(so.clone(), values).await.unwrap();
        assert_eq!(row[3], Value::String(name.into()));
    }
    let first = store.read(so.clone(), Value::Int(1)).await.unwrap().unwrap();
    assert_eq!(first[0], Value::Int(1));
    assert!(matches!(&first[1], Value::Guid(g) if g.len() == 36));
    assert_eq!(first[2], Value::Int(1));
    assert_eq!(first[4], Value::Decimal(2.5));
    assert_eq!(first[5], Value::Bool(true));
    let third = store.read(so.clone(), Value::Int(3)).await.unwrap().unwrap();
    assert_eq!(third[2], Value::Int(3));
    assert!(store.read(so.clone(), Value::Int(9)).await.unwrap().is_none());

    let filter = parse_filter("Price gt 1", so.query_properties.as_slice()).unwrap();
    let order = parse_orderby("Name desc", so.query_properties.as_slice()).unwrap();
    let query = ListQuery {
        filter: Some(filter.clone()),
        order,
        skip: 0,
        limit: 10,
    };
    let page = store.list(so.clone(), query.clone()).await.unwrap();
    let names: Vec<&Value> = page.iter().map(|r| &r[3]).collect();
    assert_eq!(names, [&Value::String("c".into()), &Value::String("b".into())]);
    let second = store
        .list(
            so.clone(),
            ListQuery {
                skip: 1,
                limit: 1,
                ..query
            },
        )
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0][3], Value::String("b".into()));
    assert_eq!(store.count(so.clone(), Some(filter)).await.unwrap(), 2);

    let updated = store
        .update(so.clone(), Value::Int(2), vec![(4, Value::Null)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated[4], Value::Null);
    assert_eq!(store.read(so.clone(), Value::Int(2)).await.unwrap().unwrap(), updated);
    assert!(store
        .update(so.clone(), Value::Int(9), vec![(4, Value::Null)])
        .await
        .unwrap()
        .is_none());
    assert!(store.delete(so.clone(), Value::Int(2)).await.unwrap());
    assert!(!store.delete(so.clone(), Value::Int(2)).await.unwrap());
    assert_eq!(store.count(so, None).await.unwrap(), 2);
}

async fn smartobject_schema(stores: Stores) {
    let store = stores.smartobjects;
    let text = "system_name: Tag\nkey: Code\nmethods: [List, Create]\nproperties:\n  - {name: Code, type: Text}\n";
    let cat = catalog(text);
    store.sync_schema(&cat).await.unwrap();
    let so = cat.defined()[0].clone();
    store
        .create(so.clone(), vec![(0, Value::String("x".into()))])
        .await
        .unwrap();
    let err = store
        .create(so, vec![(0, Value::String("x".into()))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");

    let wider = catalog(&format!("{text}  - {{name: Note, type: Text}}\n"));
    store.sync_schema(&wider).await.unwrap();
    let so = wider.defined()[0].clone();
    let row = store.read(so, Value::String("x".into())).await.unwrap().unwrap();
    assert_eq!(row, vec![Value::String("x".into()), Value::Null]);

    let rekeyed = catalog(&format!(
        "{}  - {{name: Note, type: Text}}\n",
        text.replace("key: Code", "key: Note")
    ));
    let err = store.sync_schema(&rekeyed).await.unwrap_err();
    assert!(err.to_string().contains("another key"), "{err}");
}

async fn statistics_views(stores: Stores) {
    let (id, task_id) = start(&stores, "F1", task_to(DESTINATION_USER, "bob"), 1_709_287_200).await;
    stores
        .workflow
        .update_task(
            task_id,
            Box::new(|t, i| {
                let mut task = t.clone();
                task.status = TaskStatus::Completed;
                task.completed_at = Some(1_709_287_260);
                let mut inst = i.clone();
                inst.status = "Completed".into();
                inst.current_activity = None;
                inst.finished_at = Some(1_709_290_800);
                Ok(Transition {
                    at: 1_709_287_260,
                    task,
                    instance: Some(inst),
                    new_task: None,
                    history: vec![],
                })
            }),
        )
        .await
        .unwrap()
        .unwrap();
    let cat = Catalog::build(Vec::new(), &OdataConfig::default()).unwrap();
    let instances = cat.entity_set("WorkflowInstances").unwrap().clone();
    let row = stores
        .smartobjects
        .read(instances.clone(), Value::Int(id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row[8], Value::DateTimeOffset("2024-03-01T10:00:00.0000000Z".into()));
    assert_eq!(row[9], Value::DateTimeOffset("2024-03-01T11:00:00.0000000Z".into()));
    assert_eq!(row[10], Value::Int(3600));
    let filter = parse_filter(
        "year(StartDate) eq 2024 and DurationSeconds ge 3600",
        instances.query_properties.as_slice(),
    );
    assert_eq!(
        stores
            .smartobjects
            .count(instances, Some(filter.unwrap()))
            .await
            .unwrap(),
        1
    );
    let tasks = cat.entity_set("WorkflowTasks").unwrap().clone();
    let serial = format!("{id}_{task_id}");
    let task = stores
        .smartobjects
        .read(tasks, Value::String(serial))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(task[2], Value::String("Expense Claim".into()));
    assert_eq!(task[13], Value::Int(60));
}

const TYPED: &str = r#"
system_name: Typed
key: Id
methods: [List, Read, Create, Delete]
properties:
  - {name: Id, type: AutoNumber}
  - {name: Name, type: Text}
  - {name: Amount, type: Decimal}
  - {name: Count, type: Number}
  - {name: Active, type: Boolean}
  - {name: Created, type: DateTime}
  - {name: Due, type: Date}
  - {name: At, type: Time}
  - {name: Ref, type: GUID}
"#;

/// Property values of `Typed` after its key (`Name` .. `Ref`), each possibly null.
fn row() -> impl Strategy<Value = Vec<Value>> {
    let text = prop::option::of(prop::sample::select(vec![
        "ann", "Anna", "bob", "O'Brien", "", "éclair", "ÉCLAIR", "Straße", "ANN",
    ]));
    (
        text,
        prop::option::of(prop::sample::select(vec![-1.5, 0.0, 2.0, 10.25, 99.0])),
        prop::option::of(-3i64..4),
        prop::option::of(any::<bool>()),
        prop::option::of((1u32..4, 0u32..3)),
        prop::option::of(27u32..30),
        prop::option::of(prop::sample::select(vec!["08:30:00", "12:00:00.5", "23:59:59"])),
        prop::option::of(prop::sample::select(vec![
            "0a1b2c3d-0000-4000-8000-00000000000f",
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
        ])),
    )
        .prop_map(|(name, amount, count, active, created, due, at, guid)| {
            let or_null = |v: Option<Value>| v.unwrap_or(Value::Null);
            vec![
                or_null(name.map(|s| Value::String(s.into()))),
                or_null(amount.map(Value::Decimal)),
                or_null(count.map(Value::Int)),
                or_null(active.map(Value::Bool)),
                or_null(created.and_then(|(d, h)| {
                    normalize_datetime(&format!("2024-01-0{d}T0{h}:00:00Z")).map(Value::DateTimeOffset)
                })),
                or_null(due.map(|d| Value::Date(format!("2024-02-{d}")))),
                or_null(at.and_then(normalize_time).map(Value::TimeOfDay)),
                or_null(guid.map(|g| Value::Guid(g.into()))),
            ]
        })
}

fn leaf() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["eq", "ne", "gt", "ge", "lt", "le"]);
    let word = prop::sample::select(vec!["ann", "An", "b", "''", "O''B", "É", "éc", "STRASSE", ""]);
    prop_oneof![
        (op.clone(), word.clone()).prop_map(|(o, w)| format!("Name {o} '{w}'")),
        (op.clone(), -3i64..4).prop_map(|(o, i)| format!("Count {o} {i}")),
        (op.clone(), prop::sample::select(vec!["0", "2.0", "10", "-1.5"])).prop_map(|(o, d)| format!("Amount {o} {d}")),
        op.clone().prop_map(|o| format!("Amount {o} Count")),
        any::<bool>().prop_map(|b| format!("Active eq {b}")),
        Just("Active".to_string()),
        prop::sample::select(vec!["Name", "Amount", "Count", "Created", "Ref"]).prop_map(|p| format!("{p} eq null")),
        prop::sample::select(vec!["Name", "Due", "At"]).prop_map(|p| format!("{p} ne null")),
        (
            prop::sample::select(vec!["contains", "startswith", "endswith"]),
            word.clone(),
            any::<bool>()
        )
            .prop_map(|(f, w, lower)| if lower {
                format!("{f}(tolower(Name),'{w}')")
            } else {
                format!("{f}(Name,'{w}')")
            }),
        (op.clone(), 0i64..6).prop_map(|(o, n)| format!("length(Name) {o} {n}")),
        (
            op.clone(),
            prop::sample::select(vec!["toupper(Name)", "tolower(Name)"]),
            word
        )
            .prop_map(|(o, f, w)| format!("{f} {o} '{w}'")),
        (op.clone(), 1u32..4).prop_map(|(o, d)| format!("day(Created) {o} {d}")),
        (op.clone(), 27u32..30).prop_map(|(o, d)| format!("Due {o} 2024-02-{d}")),
        (op.clone(), 1u32..4, 0u32..3).prop_map(|(o, d, h)| format!("Created {o} 2024-01-0{d}T0{h}:00:00Z")),
        (op.clone(), prop::sample::select(vec!["08:30", "12:00:00.5", "12:00"]))
            .prop_map(|(o, t)| format!("At {o} {t}")),
        (
            op,
            prop::sample::select(vec![
                "0A1B2C3D-0000-4000-8000-00000000000F",
                "ffffffff-ffff-4fff-bfff-ffffffffffff"
            ])
        )
            .prop_map(|(o, g)| format!("Ref {o} {g}")),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

/// `$filter` through the store selects exactly the rows the reference evaluator ([`eval::matches`]) matches:
/// random rows (nulls, Unicode case mapping, every type), random filters over them.
fn filter_property(runtime: &tokio::runtime::Runtime, factory: &Factory) {
    let fresh = runtime.block_on(factory());
    let store = fresh.stores.smartobjects.clone();
    let cat = catalog(TYPED);
    runtime.block_on(store.sync_schema(&cat)).expect("the Typed table");
    let so = cat.defined()[0].clone();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = (
        prop::collection::vec(row(), 0..12),
        prop::collection::vec(filter_text(), 8),
    );
    let outcome = runner.run(&cases, |(rows, filters)| {
        runtime.block_on(async {
            for old in store.list(so.clone(), all()).await.unwrap() {
                store.delete(so.clone(), old[0].clone()).await.unwrap();
            }
            for values in &rows {
                let values = values.iter().enumerate().map(|(i, v)| (i + 1, v.clone())).collect();
                store.create(so.clone(), values).await.unwrap();
            }
            let stored = store.list(so.clone(), all()).await.unwrap();
            for text in &filters {
                let filter = parse_filter(text, so.query_properties.as_slice())
                    .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                let expected: Vec<&Value> = stored
                    .iter()
                    .filter(|r| eval::matches(&filter, r))
                    .map(|r| &r[0])
                    .collect();
                let query = ListQuery {
                    filter: Some(filter),
                    ..all()
                };
                let selected = store.list(so.clone(), query).await.unwrap();
                let selected: Vec<&Value> = selected.iter().map(|r| &r[0]).collect();
                prop_assert_eq!(selected, expected, "{}", text);
            }
            Ok(())
        })
    });
    if let Err(e) = outcome {
        panic!("store conformance: $filter differs from the reference evaluator: {e}");
    }
    drop(fresh.guard);
}

fn all() -> ListQuery {
    ListQuery {
        filter: None,
        order: Vec::new(),
        skip: 0,
        limit: 1_000,
    }
}

/// The outbound OAuth store ([`crate::outbound::store::OAuthStore`]).
mod oauth {
    use crate::outbound::store::{AuthorizationState, ConnectionStatus, RefreshOutcome, TokenUpdate};
    use crate::outbound::vault::Sealed;
    use crate::store::{StoreError, Stores};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn sealed(text: &str) -> Sealed {
        Sealed(text.as_bytes().to_vec())
    }

    fn state(id: &str, user: &str, expires_at: i64) -> AuthorizationState {
        AuthorizationState {
            id: id.into(),
            user: user.into(),
            resource: "Salesforce".into(),
            pkce_verifier: Some(sealed("verifier")),
            return_url: Some("/after?x=1".into()),
            browser_binding: "cookie-digest".into(),
            expires_at,
        }
    }

    fn tokens(access: &str, refresh: Option<&str>, expires_at: i64) -> TokenUpdate {
        TokenUpdate {
            resource_type: "Salesforce".into(),
            access_token: sealed(access),
            refresh_token: refresh.map(sealed),
            expires_at: Some(expires_at),
        }
    }

    pub(super) async fn state_consumed_once(stores: Stores) {
        let store = stores.oauth.clone();
        store
            .create_state(state("s1", "K2:CONTOSO\\alice", 1_000))
            .await
            .unwrap();
        let err = store
            .create_state(state("s1", "K2:CONTOSO\\bob", 1_000))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(_)),
            "a duplicate id conflicts: {err}"
        );
        let mut consumers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let store = store.clone();
            consumers.spawn(async move { store.consume_state("s1", 500).await });
        }
        let mut got = Vec::new();
        while let Some(outcome) = consumers.join_next().await {
            if let Some(s) = outcome.unwrap().unwrap() {
                got.push(s);
            }
        }
        assert_eq!(got.len(), 1, "exactly one consumer gets the state");
        assert_eq!(got[0], state("s1", "K2:CONTOSO\\alice", 1_000), "read back as written");
        assert_eq!(
            store.consume_state("s1", 500).await.unwrap(),
            None,
            "a replay finds nothing"
        );
        assert_eq!(store.consume_state("never", 500).await.unwrap(), None);
    }

    pub(super) async fn state_expiry(stores: Stores) {
        let store = stores.oauth;
        store.create_state(state("old", "alice", 100)).await.unwrap();
        assert_eq!(
            store.consume_state("old", 100).await.unwrap(),
            None,
            "expired at its expiry"
        );
        store
            .create_state(state("old", "alice", 100))
            .await
            .expect("an expired state was removed");
        store.create_state(state("live", "alice", 200)).await.unwrap();
        assert_eq!(store.purge_expired_states(150).await.unwrap(), 1);
        assert!(store.consume_state("live", 150).await.unwrap().is_some());
    }

    pub(super) async fn upsert_and_rotation(stores: Stores) {
        let store = stores.oauth;
        let first = store
            .upsert_connection("K2:CONTOSO\\Alice", "Salesforce", tokens("a1", Some("r1"), 1_000), 10)
            .await
            .unwrap();
        assert_eq!(first.user, "K2:CONTOSO\\Alice");
        assert_eq!((first.created_at, first.updated_at), (10, 10));
        assert_eq!(first.status, ConnectionStatus::Connected);
        let rotated = store
            .upsert_connection("K2:CONTOSO\\Alice", "Salesforce", tokens("a2", Some("r2"), 2_000), 20)
            .await
            .unwrap();
        assert_eq!(rotated.access_token, sealed("a2"));
        assert_eq!(
            rotated.refresh_token,
            Some(sealed("r2")),
            "the rotated refresh token is saved"
        );
        assert_eq!(
            (rotated.created_at, rotated.updated_at, rotated.expires_at),
            (10, 20, Some(2_000))
        );
        let kept = store
            .upsert_connection("k2:contoso\\alice", "Salesforce", tokens("a3", None, 3_000), 30)
            .await
            .unwrap();
        assert_eq!(
            kept.refresh_token,
            Some(sealed("r2")),
            "no new refresh token keeps the stored one"
        );
        assert_eq!(
            kept.user, "K2:CONTOSO\\Alice",
            "users match case-insensitively; the first spelling is kept"
        );
        let read = store
            .connection("K2:CONTOSO\\ALICE", "Salesforce")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, kept, "read back as written");
        assert_eq!(store.all_connections().await.unwrap().len(), 1);
    }

    pub(super) async fn revoke(stores: Stores) {
        let store = stores.oauth;
        for (user, resource) in [("alice", "A"), ("alice", "B"), ("bob", "A")] {
            store
                .upsert_connection(user, resource, tokens("a", Some("r"), 100), 1)
                .await
                .unwrap();
        }
        assert!(store.revoke("ALICE", "A").await.unwrap());
        assert!(!store.revoke("alice", "A").await.unwrap(), "already gone");
        assert_eq!(store.connection("alice", "A").await.unwrap(), None);
        assert_eq!(store.revoke_all("alice").await.unwrap(), 1);
        assert!(store.connections_of("alice").await.unwrap().is_empty());
        let left: Vec<_> = store
            .all_connections()
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.user, c.resource))
            .collect();
        assert_eq!(
            left,
            [("bob".to_string(), "A".to_string())],
            "bob's connection is untouched"
        );
    }

    pub(super) async fn user_isolation(stores: Stores) {
        let store = stores.oauth;
        store
            .upsert_connection("alice", "Graph", tokens("alice-a", Some("alice-r"), 100), 1)
            .await
            .unwrap();
        store
            .upsert_connection("bob", "Graph", tokens("bob-a", Some("bob-r"), 100), 1)
            .await
            .unwrap();
        store
            .upsert_connection("alice2", "Graph", tokens("x", None, 100), 1)
            .await
            .unwrap();
        let alice = store.connections_of("alice").await.unwrap();
        assert_eq!(alice.len(), 1, "{alice:?}");
        assert_eq!(alice[0].access_token, sealed("alice-a"));
        assert_eq!(
            store.connection("bob", "Graph").await.unwrap().unwrap().access_token,
            sealed("bob-a")
        );
        assert_eq!(store.connection("carol", "Graph").await.unwrap(), None);
        assert!(
            !store.revoke("carol", "Graph").await.unwrap(),
            "carol cannot revoke another's"
        );
        let err = store
            .with_refresh_lock(
                "carol",
                "Graph",
                5,
                Box::new(|_| Box::pin(async { RefreshOutcome::Keep })),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
        let all: Vec<String> = store
            .all_connections()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.user)
            .collect();
        assert_eq!(all, ["alice", "alice2", "bob"]);
    }

    pub(super) async fn refresh_lock(stores: Stores) {
        let store = stores.oauth;
        store
            .upsert_connection("alice", "Graph", tokens("a1", Some("r1"), 100), 1)
            .await
            .unwrap();
        let refreshes = Arc::new(AtomicUsize::new(0));
        let inside = Arc::new(AtomicUsize::new(0));
        let mut holders = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (store, refreshes, inside) = (store.clone(), refreshes.clone(), inside.clone());
            holders.spawn(async move {
                store
                    .with_refresh_lock(
                        "alice",
                        "Graph",
                        50,
                        Box::new(move |current| {
                            Box::pin(async move {
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "one holder at a time");
                                // The provider's latency, so that the other holders queue on the lock.
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                                let outcome = if current.access_token == sealed("a1") {
                                    refreshes.fetch_add(1, Ordering::SeqCst);
                                    RefreshOutcome::Tokens(tokens("a2", Some("r2"), 200))
                                } else {
                                    RefreshOutcome::Keep
                                };
                                inside.fetch_sub(1, Ordering::SeqCst);
                                outcome
                            })
                        }),
                    )
                    .await
            });
        }
        while let Some(outcome) = holders.join_next().await {
            let left = outcome.unwrap().unwrap();
            assert_eq!(
                left.access_token,
                sealed("a2"),
                "every holder ends with the refreshed token"
            );
            assert_eq!(left.refresh_token, Some(sealed("r2")));
        }
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            1,
            "the later holders saw the first one's write"
        );
        let read = store.connection("alice", "Graph").await.unwrap().unwrap();
        assert_eq!(
            (read.access_token, read.refresh_token, read.updated_at),
            (sealed("a2"), Some(sealed("r2")), 50)
        );
        let marked = store
            .with_refresh_lock(
                "alice",
                "Graph",
                60,
                Box::new(|_| Box::pin(async { RefreshOutcome::NeedsReauthorization })),
            )
            .await
            .unwrap();
        assert_eq!(marked.status, ConnectionStatus::NeedsReauthorization);
        assert_eq!(
            marked.access_token,
            sealed("a2"),
            "the tokens are kept until replaced or revoked"
        );
        let again = store
            .upsert_connection("alice", "Graph", tokens("a3", Some("r3"), 300), 70)
            .await
            .unwrap();
        assert_eq!(
            again.status,
            ConnectionStatus::Connected,
            "a new authorization reconnects"
        );
    }
}

mod admin {
    use crate::store::admin::{AuditRecord, ReplicaRecord, SettingRecord, REPLICA_RETENTION_SECS};
    use crate::store::{StoreError, Stores};
    use serde_json::json;

    fn setting(key: &str, value: serde_json::Value) -> SettingRecord {
        SettingRecord {
            key: key.into(),
            value,
            changed_by: "K2:CONTOSO\\admin".into(),
            changed_at: "2026-11-30T14:00:00Z".into(),
        }
    }

    fn audit(target: &str, before: serde_json::Value, after: serde_json::Value) -> AuditRecord {
        AuditRecord {
            who: "K2:CONTOSO\\admin".into(),
            at: "2026-11-30T14:00:00Z".into(),
            action: "settings.update".into(),
            target: target.into(),
            before,
            after,
        }
    }

    pub async fn settings_versioned(stores: Stores) {
        let admin = &stores.admin;
        assert_eq!(admin.settings_version().await.unwrap(), 0);
        assert!(admin.settings().await.unwrap().entries.is_empty());
        let v1 = admin
            .write_settings(
                0,
                vec![setting(
                    "workflow",
                    json!({"enabled": false, "status": 503, "message": "é off"}),
                )],
                vec![audit("workflow", json!(null), json!({"enabled": false}))],
            )
            .await
            .unwrap();
        assert_eq!(v1, 1);
        // A stale write changes nothing, its audit entry included.
        let stale = admin
            .write_settings(
                0,
                vec![setting("workflow", json!({"enabled": true}))],
                vec![audit("workflow", json!(1), json!(2))],
            )
            .await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
        let v2 = admin
            .write_settings(
                1,
                vec![
                    setting("odata.page_size", json!(50)),
                    setting("workflow", json!({"enabled": true})),
                ],
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(v2, 2);
        let snapshot = admin.settings().await.unwrap();
        assert_eq!(snapshot.version, 2);
        assert_eq!(admin.settings_version().await.unwrap(), 2);
        let keys: Vec<&str> = snapshot.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["odata.page_size", "workflow"]);
        assert_eq!(snapshot.entries[1].value, json!({"enabled": true}));
        assert_eq!(snapshot.entries[0].changed_by, "K2:CONTOSO\\admin");
        let log = admin.audit(None, 10).await.unwrap();
        assert_eq!(log.len(), 1, "the stale write's entry is not there");
        assert_eq!(log[0].record.after, json!({"enabled": false}));
    }

    pub async fn audit_pages(stores: Stores) {
        let admin = &stores.admin;
        for i in 0..5 {
            admin
                .append_audit(audit(&format!("t{i}"), json!(i), json!(i + 1)))
                .await
                .unwrap();
        }
        let first = admin.audit(None, 2).await.unwrap();
        let targets: Vec<&str> = first.iter().map(|e| e.record.target.as_str()).collect();
        assert_eq!(targets, ["t4", "t3"]);
        let next = admin.audit(Some(first[1].id), 10).await.unwrap();
        let targets: Vec<&str> = next.iter().map(|e| e.record.target.as_str()).collect();
        assert_eq!(targets, ["t2", "t1", "t0"]);
        assert_eq!(next[2].record.before, json!(0));
    }

    pub async fn key_once(stores: Stores) {
        let admin = &stores.admin;
        let first = admin.key("csrf", vec![1; 32]).await.unwrap();
        assert_eq!(first, vec![1; 32]);
        let second = admin.key("csrf", vec![2; 32]).await.unwrap();
        assert_eq!(second, vec![1; 32], "the stored key wins");
        assert_eq!(admin.key("other", vec![3; 4]).await.unwrap(), vec![3; 4]);
    }

    fn replica(id: &str, seen_at: i64) -> ReplicaRecord {
        ReplicaRecord {
            id: id.into(),
            version: "0.1.0".into(),
            started_at: "2026-11-30T14:00:00Z".into(),
            seen_at,
        }
    }

    pub async fn replicas_beat(stores: Stores) {
        let admin = &stores.admin;
        let now = 1_800_000_000;
        assert!(admin.replicas(0).await.unwrap().is_empty());
        admin.heartbeat(replica("b", now - 100)).await.unwrap();
        admin.heartbeat(replica("a", now - 10)).await.unwrap();
        // A beat replaces the replica's row.
        admin.heartbeat(replica("b", now)).await.unwrap();
        assert_eq!(
            admin.replicas(now - 30).await.unwrap(),
            [replica("a", now - 10), replica("b", now)]
        );
        assert_eq!(admin.replicas(now - 5).await.unwrap(), [replica("b", now)]);
        // One long gone is removed by the next beat of another.
        admin
            .heartbeat(replica("c", now - 2 * REPLICA_RETENTION_SECS))
            .await
            .unwrap();
        admin.heartbeat(replica("a", now)).await.unwrap();
        let ids: Vec<String> = admin.replicas(0).await.unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
